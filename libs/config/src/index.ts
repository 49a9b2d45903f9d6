import { loadConfig, type ConfigOf, type Env, type Schema } from './load';
import { KNOWN_VARIABLES } from './catalog';

export { ConfigError, loadConfig, type ConfigOf, type Env, type Schema } from './load';
export { CATALOG, KNOWN_VARIABLES } from './catalog';
export * as schemas from './catalog';
export { formatDuration, parseDuration, readSecretFile, type Variable } from './variables';

/** Loads `schema` from `env` against the full Bowline catalogue. Throws `ConfigError`. */
export function configFromEnv<S extends Schema>(schema: S, env: Env = process.env): ConfigOf<S> {
  return loadConfig(schema, env, KNOWN_VARIABLES);
}
