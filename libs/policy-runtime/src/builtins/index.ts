import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { JWT_VERIFY_BUILTINS, jwtDecode, jwtDecodeVerify, jwtVerifier } from './jwt';
import {
  anyMatch,
  cidrIsValid,
  decodeQueryObject,
  encodeQueryObject,
  exactInteger,
  parseBytes,
  parseDurationNs,
  parseRfc3339Ns,
  queryEscape,
  queryUnescape,
  requireString,
  semverCompare,
  semverIsValid,
} from './values';

/** What host built-ins may read about the evaluation they run in. */
export interface BuiltinContext {
  /** The evaluation's time in nanoseconds since the epoch: one value for the whole evaluation. */
  nowNs(): bigint;
  /** Called with each built-in error (the expression then is undefined, as in OPA). */
  onError?(name: string, error: unknown): void;
}

type Builtin = (...args: unknown[]) => unknown;

const hash = (algorithm: string) => (value: unknown) =>
  createHash(algorithm).update(requireString(value)).digest('hex');
const hmac = (algorithm: string) => (value: unknown, key: unknown) =>
  createHmac(algorithm, requireString(key, 2)).update(requireString(value)).digest('hex');

function hmacEqual(a: unknown, b: unknown): boolean {
  const [x, y] = [Buffer.from(requireString(a)), Buffer.from(requireString(b, 2))];
  return x.length === y.length && timingSafeEqual(x, y);
}

function hexDecode(value: unknown): string {
  const text = requireString(value);
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error('invalid hex string');
  return Buffer.from(text, 'hex').toString('utf8');
}

function contextFree(): Record<string, Builtin> {
  const table: Record<string, Builtin> = {
    'io.jwt.decode': jwtDecode,
    'crypto.sha256': hash('sha256'),
    'crypto.sha1': hash('sha1'),
    'crypto.md5': hash('md5'),
    'crypto.hmac.sha256': hmac('sha256'),
    'crypto.hmac.sha1': hmac('sha1'),
    'crypto.hmac.sha512': hmac('sha512'),
    'crypto.hmac.md5': hmac('md5'),
    'crypto.hmac.equal': hmacEqual,
    'hex.encode': (v) => Buffer.from(requireString(v)).toString('hex'),
    'hex.decode': hexDecode,
    'base64url.encode_no_pad': (v) => Buffer.from(requireString(v)).toString('base64url'),
    'urlquery.encode': (v) => queryEscape(requireString(v)),
    'urlquery.decode': (v) => queryUnescape(requireString(v)),
    'urlquery.encode_object': encodeQueryObject,
    'urlquery.decode_object': (v) => decodeQueryObject(requireString(v)),
    'net.cidr_is_valid': cidrIsValid,
    'units.parse_bytes': (v) => parseBytes(requireString(v)),
    'semver.compare': semverCompare,
    'semver.is_valid': semverIsValid,
    'time.parse_rfc3339_ns': (v) => parseRfc3339Ns(requireString(v)),
    'time.parse_duration_ns': (v) => parseDurationNs(requireString(v)),
    'strings.any_prefix_match': anyMatch('prefix'),
    'strings.any_suffix_match': anyMatch('suffix'),
  };
  for (const name of JWT_VERIFY_BUILTINS) table[name] = jwtVerifier(name.slice('io.jwt.verify_'.length).toUpperCase());
  return table;
}

/**
 * The host implementations of built-ins OPA does not compile into wasm, bound to one
 * evaluation context. Pass them to `loadPolicy` as its custom built-ins.
 */
export function createHostBuiltins(context: BuiltinContext): Record<string, Builtin> {
  const table: Record<string, Builtin> = {
    ...contextFree(),
    'time.now_ns': () => exactInteger(context.nowNs()),
    'io.jwt.decode_verify': (token, constraints) => jwtDecodeVerify(token, constraints, Number(context.nowNs())),
  };
  const guarded: Record<string, Builtin> = {};
  for (const [name, fn] of Object.entries(table)) {
    guarded[name] = (...args: unknown[]) => {
      try {
        return fn(...args);
      } catch (error) {
        context.onError?.(name, error);
        return undefined; // the expression is undefined, as OPA treats built-in errors
      }
    };
  }
  return guarded;
}

/** Names of every host-implemented built-in (they go into the compiler's capabilities). */
export const HOST_BUILTINS: readonly string[] = Object.freeze(
  Object.keys(createHostBuiltins({ nowNs: () => 0n })).sort(),
);
