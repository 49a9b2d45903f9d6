/**
 * Value-level host built-ins (strings, encodings, numbers, versions, networks, time), each
 * matching `opa eval` on the same inputs. A thrown error makes the calling expression
 * undefined, as OPA does for built-in errors outside strict mode.
 */
import { isIP } from 'node:net';

export class BuiltinError extends Error {}

export function requireString(value: unknown, operand = 1): string {
  if (typeof value !== 'string') throw new BuiltinError(`operand ${operand} must be string`);
  return value;
}

/** An exact integer as raw JSON text, so values beyond 2^53 (nanoseconds) reach the policy unrounded. */
export function exactInteger(value: bigint): ArrayBuffer {
  const bytes = new TextEncoder().encode(value.toString());
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Go's `url.QueryEscape`: everything but `A-Za-z0-9-_.~` is percent-encoded, spaces become `+`. */
export function queryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** Go's `url.QueryUnescape`: `+` is a space; a malformed escape is an error. */
export function queryUnescape(value: string): string {
  if (/%(?![0-9a-fA-F]{2})/.test(value)) throw new BuiltinError('invalid URL escape');
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw new BuiltinError('invalid URL escape');
  }
}

/** `urlquery.encode_object`: Go's `url.Values.Encode()` (keys sorted; arrays and sets repeat the key). */
export function encodeQueryObject(object: unknown): string {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    throw new BuiltinError('operand 1 must be object');
  }
  const pairs: string[] = [];
  for (const key of Object.keys(object).sort()) {
    const value = (object as Record<string, unknown>)[key];
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) pairs.push(`${queryEscape(key)}=${queryEscape(requireString(v))}`);
  }
  return pairs.join('&');
}

/** `urlquery.decode_object`: Go's `url.ParseQuery`, every value an array. */
export function decodeQueryObject(query: string): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const part of query.split('&')) {
    if (part === '') continue;
    const [rawKey, ...rest] = part.split('=');
    const key = queryUnescape(rawKey);
    (result[key] ??= []).push(queryUnescape(rest.join('=')));
  }
  return result;
}

/** `net.cidr_is_valid`: Go's `net.ParseCIDR` accepts it. */
export function cidrIsValid(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const slash = value.indexOf('/');
  if (slash < 0) return false;
  const [address, prefix] = [value.slice(0, slash), value.slice(slash + 1)];
  const family = isIP(address);
  if (family === 0 || address.includes('%') || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

const BYTE_UNITS: Record<string, bigint> = { '': 1n };
['k', 'm', 'g', 't', 'p', 'e'].forEach((unit, i) => {
  BYTE_UNITS[unit] = BYTE_UNITS[`${unit}b`] = 1000n ** BigInt(i + 1);
  BYTE_UNITS[`${unit}i`] = BYTE_UNITS[`${unit}ib`] = 1024n ** BigInt(i + 1);
});

/** `units.parse_bytes`: "10KiB", "1.5 GB", "42" → whole bytes (truncated), exactly. */
export function parseBytes(value: string): ArrayBuffer {
  const text = value.replace(/"/g, '').toLowerCase();
  const match = /^([0-9.]*)(.*)$/.exec(text)!;
  const [, number, unit] = match;
  if (number === '') throw new BuiltinError('no byte amount provided');
  const multiplier = BYTE_UNITS[unit];
  if (multiplier === undefined) throw new BuiltinError(`byte unit ${unit} not recognized`);
  const numberMatch = /^(\d*)(?:\.(\d*))?$/.exec(number);
  if (!numberMatch || (numberMatch[1] === '' && !numberMatch[2])) {
    throw new BuiltinError(`could not parse byte amount to a number`);
  }
  const whole = BigInt(numberMatch[1] || '0');
  const fraction = numberMatch[2] ?? '';
  const scale = 10n ** BigInt(fraction.length);
  const total = (whole * scale + BigInt(fraction || '0')) * multiplier;
  return exactInteger(total / scale);
}

interface SemVer {
  major: bigint;
  minor: bigint;
  patch: bigint;
  pre: string[];
}

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

function parseSemver(value: unknown): SemVer | undefined {
  if (typeof value !== 'string') return undefined;
  const m = SEMVER.exec(value.startsWith('v') ? value.slice(1) : value);
  if (!m) return undefined;
  return { major: BigInt(m[1]), minor: BigInt(m[2]), patch: BigInt(m[3]), pre: m[4] ? m[4].split('.') : [] };
}

export function semverIsValid(value: unknown): boolean {
  return parseSemver(value) !== undefined;
}

function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 0 : a.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i >= a.length) return -1;
    if (i >= b.length) return 1;
    const [x, y] = [a[i], b[i]];
    if (x === y) continue;
    const [xn, yn] = [/^\d+$/.test(x), /^\d+$/.test(y)];
    if (xn && yn) return BigInt(x) < BigInt(y) ? -1 : 1;
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** `semver.compare(a, b)`: -1, 0 or 1 by SemVer 2.0 precedence (build metadata ignored). */
export function semverCompare(a: unknown, b: unknown): number {
  const [x, y] = [parseSemver(a), parseSemver(b)];
  if (!x) throw new BuiltinError(`operand 1: string ${JSON.stringify(a)} is not a valid SemVer`);
  if (!y) throw new BuiltinError(`operand 2: string ${JSON.stringify(b)} is not a valid SemVer`);
  for (const key of ['major', 'minor', 'patch'] as const) {
    if (x[key] !== y[key]) return x[key] < y[key] ? -1 : 1;
  }
  return comparePre(x.pre, y.pre);
}

/** `time.parse_rfc3339_ns`: Go's `time.Parse(time.RFC3339, s)` as nanoseconds since the epoch, exact. */
export function parseRfc3339Ns(value: string): ArrayBuffer {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/.exec(
    value,
  );
  if (!m) throw new BuiltinError(`parsing time ${JSON.stringify(value)} as RFC 3339 failed`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) {
    throw new BuiltinError(`parsing time ${JSON.stringify(value)}: field out of range`);
  }
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second);
  if (new Date(epochMs).getUTCDate() !== day)
    throw new BuiltinError(`parsing time ${JSON.stringify(value)}: day out of range`);
  const offsetSeconds = m[8] ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 3600 + Number(m[11]) * 60);
  const nanos = BigInt((m[7] ?? '').padEnd(9, '0') || '0');
  const seconds = BigInt(epochMs / 1000 - offsetSeconds);
  return exactInteger(seconds * 1_000_000_000n + nanos);
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
  d: 86_400e9,
  w: 604_800e9,
  y: 31_536_000e9,
};

/** `time.parse_duration_ns`: Go's `time.ParseDuration` plus OPA's d, w and y units ("1h30m", "-1.5s", "2d"). */
export function parseDurationNs(value: string): number {
  const m = /^([-+]?)(.*)$/.exec(value)!;
  const sign = m[1] === '-' ? -1 : 1;
  if (m[2] === '0') return 0;
  const parts = [...m[2].matchAll(/(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h|d|w|y)/g)];
  if (m[2] === '' || parts.map((p) => p[0]).join('') !== m[2] || parts.some((p) => !/\d/.test(p[1]))) {
    throw new BuiltinError(`time: invalid duration ${JSON.stringify(value)}`);
  }
  const total = parts.reduce((sum, p) => sum + Math.trunc(Number(p[1]) * DURATION_UNITS[p[2]]), 0);
  return sign * total;
}

/** `strings.any_prefix_match` / `strings.any_suffix_match` over strings, arrays or sets of strings. */
export function anyMatch(kind: 'prefix' | 'suffix'): (search: unknown, base: unknown) => boolean {
  const list = (v: unknown, operand: number) => (Array.isArray(v) ? v : [v]).map((s) => requireString(s, operand));
  return (search, base) => {
    const bases = list(base, 2);
    return list(search, 1).some((s) => bases.some((b) => (kind === 'prefix' ? s.startsWith(b) : s.endsWith(b))));
  };
}
