import type { ConfigOf, schemas } from '#libs/config';

/** Galley's settings (see `schemas.galley` in libs/config): inject with `@Inject(SERVICE_CONFIG)`. */
export type GalleyConfig = ConfigOf<typeof schemas.galley>;
