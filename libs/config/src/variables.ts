import { readFileSync } from 'node:fs';

/**
 * One environment variable: how it is parsed, its default, and how it is documented.
 * `secret` variables also accept `<NAME>_FILE` (a path whose contents are the value, as
 * Docker and Kubernetes secrets are mounted) and their values never appear in messages.
 */
export interface Variable<T> {
  readonly name: string;
  readonly description: string;
  /** What a valid value looks like, used in error messages and the README table. */
  readonly expects: string;
  readonly parse: (raw: string) => T;
  /** Shown in the README; `undefined` means "no default" (optional or required). */
  readonly defaultText?: string;
  readonly defaultValue?: () => T;
  readonly required: boolean;
  readonly secret: boolean;
}

/** A parse failure; the loader prefixes the variable name. */
export class InvalidValue extends Error {}

interface Options<T> {
  description: string;
  default?: T;
  defaultText?: string;
  required?: boolean;
  secret?: boolean;
}

function variable<T>(
  name: string,
  expects: string,
  parse: (raw: string) => T,
  options: Options<T>,
  show: (value: T) => string = String,
): Variable<T | undefined> {
  const hasDefault = options.default !== undefined;
  return Object.freeze({
    name,
    description: options.description,
    expects,
    parse,
    defaultText: options.defaultText ?? (hasDefault ? show(options.default as T) : undefined),
    defaultValue: hasDefault ? () => options.default as T : undefined,
    required: options.required ?? false,
    secret: options.secret ?? false,
  });
}

type WithDefault<T, O> = O extends { default: T } ? T : O extends { required: true } ? T : T | undefined;

export function port<O extends Options<number>>(name: string, options: O): Variable<WithDefault<number, O>> {
  return variable(name, 'a TCP port number between 1 and 65535', parsePort, options) as Variable<
    WithDefault<number, O>
  >;
}

export function text<O extends Options<string>>(name: string, options: O & { minLength?: number }) {
  const min = options.minLength ?? 1;
  const expects = min > 1 ? `a string of at least ${min} characters` : 'a non-empty string';
  return variable(
    name,
    expects,
    (raw) => {
      if (raw.length < min) throw new InvalidValue(`too short (${raw.length} characters)`);
      return raw;
    },
    options,
  ) as Variable<WithDefault<string, O>>;
}

export function oneOf<const V extends string, O extends Options<V>>(name: string, values: readonly V[], options: O) {
  return variable(
    name,
    `one of ${values.join(', ')}`,
    (raw) => {
      if (!(values as readonly string[]).includes(raw)) throw new InvalidValue('not an allowed value');
      return raw as V;
    },
    options,
  ) as Variable<WithDefault<V, O>>;
}

export function postgresUrl<O extends Options<string>>(name: string, options: O) {
  return variable(
    name,
    'a postgres:// or postgresql:// URL',
    (raw) => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new InvalidValue('not a URL');
      }
      if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
        throw new InvalidValue(`unsupported scheme "${url.protocol}"`);
      }
      return raw;
    },
    options,
  ) as Variable<WithDefault<string, O>>;
}

export function filePath<O extends Options<string>>(name: string, options: O) {
  return variable(name, 'a file system path', (raw) => raw, options) as Variable<WithDefault<string, O>>;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Durations are written like `500ms`, `30s`, `15m`, `24h`, `7d`; the parsed value is milliseconds. */
export function duration<O extends Options<number>>(name: string, options: O) {
  return variable(
    name,
    'a duration such as 500ms, 30s, 15m, 24h or 7d',
    parseDuration,
    options,
    formatDuration,
  ) as Variable<WithDefault<number, O>>;
}

export function parsePort(raw: string): number {
  if (!/^\d+$/.test(raw)) throw new InvalidValue('not a whole number');
  const value = Number(raw);
  if (value < 1 || value > 65535) throw new InvalidValue('out of range');
  return value;
}

export function parseDuration(raw: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(raw.trim());
  if (!match) throw new InvalidValue('not a duration');
  return Number(match[1]) * DURATION_UNITS[match[2]];
}

export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit];
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Reads a `_FILE` secret; a trailing newline (as `echo` writes) is not part of the value. */
export function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

/** A 256-bit key written as 64 hex digits or base64 (e.g. `openssl rand -base64 32`). */
export function key256<O extends Options<Buffer>>(name: string, options: O) {
  return variable(
    name,
    '32 random bytes as 64 hex digits or base64 (openssl rand -base64 32)',
    (raw) => {
      const value = raw.trim();
      const bytes = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
      if (bytes.length !== 32 || (!/^[0-9a-fA-F]{64}$/.test(value) && bytes.toString('base64') !== value)) {
        throw new InvalidValue('not a 256-bit key');
      }
      return bytes;
    },
    options,
  ) as Variable<WithDefault<Buffer, O>>;
}

/** A SPIFFE trust domain: lowercase letters, digits, dots, dashes and underscores. */
export function trustDomain<O extends Options<string>>(name: string, options: O) {
  return variable(
    name,
    'a SPIFFE trust domain such as cluster.local (lowercase letters, digits, ".", "-", "_")',
    (raw) => {
      if (!/^[a-z0-9._-]{1,255}$/.test(raw)) throw new InvalidValue('not a valid trust domain');
      return raw;
    },
    options,
  ) as Variable<WithDefault<string, O>>;
}

/** A whole number from 0 to `max`. */
export function count<O extends Options<number>>(name: string, options: O & { max: number }) {
  return variable(
    name,
    `a whole number from 0 to ${options.max}`,
    (raw) => {
      if (!/^\d+$/.test(raw)) throw new InvalidValue('not a whole number');
      const value = Number(raw);
      if (value > options.max) throw new InvalidValue('out of range');
      return value;
    },
    options,
  ) as Variable<WithDefault<number, O>>;
}

/** Comma-separated RFC 6901 JSON pointers (`/a/b`, `~1` for "/", `~0` for "~"), kept as written. */
export function jsonPointers<O extends Options<string[]>>(name: string, options: O) {
  return variable(
    name,
    'comma-separated JSON pointers (RFC 6901) such as /parsed_body/password',
    (raw) => {
      const pointers = raw.split(',').map((p) => p.trim());
      const bad = pointers.find((p) => !/^(\/([^~/]|~[01])*)+$/.test(p));
      if (bad !== undefined) throw new InvalidValue(`${JSON.stringify(bad)} is not a JSON pointer`);
      return pointers;
    },
    options,
    (value) => value.join(','),
  ) as Variable<WithDefault<string[], O>>;
}

/** Comma-separated `<port>` or `<port>:<port>` pairs (e.g. `9080:8080,9090`), as a map from the first to the second. */
export function portMap<O extends Options<ReadonlyMap<number, number>>>(name: string, options: O) {
  return variable(
    name,
    'comma-separated <port> or <service port>:<app port> such as 9080:8080,9090',
    (raw) => {
      const ports = new Map<number, number>();
      for (const entry of raw
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean)) {
        const [from, to = from, extra] = entry.split(':');
        if (extra !== undefined) throw new InvalidValue(`"${entry}" has more than one ":"`);
        ports.set(parsePort(from), parsePort(to));
      }
      if (ports.size === 0) throw new InvalidValue('no port');
      return ports as ReadonlyMap<number, number>;
    },
    options,
    (value) => [...value].map(([a, b]) => (a === b ? `${a}` : `${a}:${b}`)).join(','),
  ) as Variable<WithDefault<ReadonlyMap<number, number>, O>>;
}
