import { configFromEnv, type ConfigOf, schemas } from '#libs/config';
import { type Kek, resolveKek } from './keys/kek';

export type CitadelConfig = ConfigOf<typeof schemas.citadel> & { readonly kekResolved: Kek };

/** Citadel's settings; a missing KEK (without the development file) stops start-up. */
export function loadCitadelConfig(env = process.env): CitadelConfig {
  const config = configFromEnv(schemas.citadel, env);
  return Object.freeze({ ...config, kekResolved: resolveKek(config) });
}
