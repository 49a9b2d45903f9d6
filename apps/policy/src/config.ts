import { accessSync, constants, statSync } from 'node:fs';
import { ConfigError, configFromEnv, type ConfigOf, schemas } from '#libs/config';

export type PolicyConfig = ConfigOf<typeof schemas.policy>;

/** The policy service's settings; the OPA CLI must be an executable file. */
export function loadPolicyConfig(env = process.env): PolicyConfig {
  const config = configFromEnv(schemas.policy, env);
  try {
    accessSync(config.opaPath, constants.X_OK);
    if (!statSync(config.opaPath).isFile()) throw new Error('not a file');
  } catch {
    throw new ConfigError([
      `POLICY_OPA_PATH ${JSON.stringify(config.opaPath)}: not an executable file; expected the OPA CLI (run \`npm run tools:opa\` to install it into .tools/)`,
    ]);
  }
  return config;
}
