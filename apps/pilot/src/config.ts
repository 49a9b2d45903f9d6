import type { ConfigOf, schemas } from '#libs/config';

/** Pilot's settings (see `schemas.pilot` in libs/config): ports, Galley's address, debounce, disconnect grace. */
export type PilotConfig = ConfigOf<typeof schemas.pilot>;
