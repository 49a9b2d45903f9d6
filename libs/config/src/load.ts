import { InvalidValue, readSecretFile, type Variable } from './variables';

/** A set of variables keyed by the property name the application reads. */
export type Schema = Record<string, Variable<unknown>>;
export type ConfigOf<S extends Schema> = { readonly [K in keyof S]: S[K] extends Variable<infer T> ? T : never };

/** Start-up stops with this; `problems` name each variable and what it expects. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parse, default, validate and freeze. Every problem is collected so the operator fixes them
 * all at once. `known` is the catalogue of every Bowline variable: a variable with a Bowline
 * prefix that is not in it is a typo and is refused rather than silently ignored.
 */
export function loadConfig<S extends Schema>(schema: S, env: Env, known: ReadonlySet<string>): ConfigOf<S> {
  const problems: string[] = [];
  const result: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    try {
      result[key] = readVariable(spec, env);
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      problems.push(error.message);
    }
  }
  problems.push(...unknownVariables(env, known));
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(result) as ConfigOf<S>;
}

function readVariable(spec: Variable<unknown>, env: Env): unknown {
  const raw = env[spec.name];
  const fileName = `${spec.name}_FILE`;
  const filePath = spec.secret ? env[fileName] : undefined;
  if (raw !== undefined && raw !== '' && filePath) {
    throw new InvalidValue(`${spec.name} and ${fileName} are both set: set only one`);
  }
  let value = raw === '' ? undefined : raw;
  let source = spec.name;
  if (filePath) {
    source = `${fileName}=${filePath}`;
    try {
      value = readSecretFile(filePath);
    } catch (error) {
      throw new InvalidValue(
        `${fileName}: cannot read ${filePath} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  if (value === undefined) {
    if (spec.defaultValue) return spec.defaultValue();
    if (spec.required) throw new InvalidValue(`${spec.name} is required: expected ${spec.expects}`);
    return undefined;
  }
  try {
    return spec.parse(value);
  } catch (error) {
    if (!(error instanceof InvalidValue)) throw error;
    const shown = spec.secret ? '(secret value)' : JSON.stringify(value);
    throw new InvalidValue(`${source} ${shown}: ${error.message}; expected ${spec.expects}`);
  }
}

const PREFIXES = ['BOWLINE_', 'CITADEL_', 'PILOT_', 'GALLEY_', 'POLICY_', 'PROXY_'];

function unknownVariables(env: Env, known: ReadonlySet<string>): string[] {
  return Object.keys(env)
    .filter((name) => PREFIXES.some((prefix) => name.startsWith(prefix)))
    .filter((name) => !known.has(name) && !(name.endsWith('_FILE') && known.has(name.slice(0, -5))))
    .sort()
    .map((name) => `${name} is not a Bowline setting (misspelt?); see the configuration table in README.md`);
}
