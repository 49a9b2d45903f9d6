import { createHash } from 'node:crypto';

/**
 * The authorization bundle as the policy service serves it (`GET /v1/bundles/authz`, format
 * `bowline.authz-bundle/v2`, see apps/policy/src/bundles/bundle-format.ts): the Istio
 * AuthorizationPolicy module generated for the namespace's policies (its input: the request's
 * `istioAttributes`, with the headers it names), and optionally the active revision of one Rego
 * policy. Wasm arrives base64 and is checked against its SHA-256.
 */
export const BUNDLE_FORMAT = 'bowline.authz-bundle/v2';

/** A bundle that cannot be used: it is refused and the last good one stays. */
export class BundleFormatError extends Error {
  override readonly name = 'BundleFormatError';
}

/** One compiled module, decoded. */
export interface BundleModule {
  entrypoint: string;
  wasm: Buffer;
  wasmSha256: string;
  data: unknown;
}

export interface AuthzBundle {
  revision: string;
  namespace: string;
  istio: BundleModule & { version: number; policies: string[]; headers: string[] };
  policy: (BundleModule & { name: string; revision: number }) | null;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function field<T>(doc: Json, key: string, check: (v: unknown) => v is T, at: string, what: string): T {
  const value = doc[key];
  if (!check(value)) throw new BundleFormatError(`${at}.${key}: must be ${what}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isAny = (v: unknown): v is unknown => v !== undefined;

function parseModule(doc: unknown, at: string): BundleModule {
  if (!isObject(doc)) throw new BundleFormatError(`${at}: must be an object`);
  const wasm = Buffer.from(field(doc, 'wasm', isString, at, 'base64 wasm'), 'base64');
  const wasmSha256 = field(doc, 'wasmSha256', isString, at, 'a SHA-256');
  if (createHash('sha256').update(wasm).digest('hex') !== wasmSha256) {
    throw new BundleFormatError(`${at}.wasm: does not match wasmSha256 (corrupted in transit?)`);
  }
  return {
    entrypoint: field(doc, 'entrypoint', isString, at, 'a decision path'),
    wasm,
    wasmSha256,
    data: field(doc, 'data', isAny, at, 'a data document'),
  };
}

/** Validates and decodes a bundle document. Throws BundleFormatError naming the bad field. */
export function parseBundle(body: unknown): AuthzBundle {
  if (!isObject(body)) throw new BundleFormatError('bundle: must be a JSON object');
  if (body.format !== BUNDLE_FORMAT) {
    throw new BundleFormatError(`bundle.format: expected ${BUNDLE_FORMAT}, got ${JSON.stringify(body.format)}`);
  }
  const istio = field(body, 'istio', isObject, 'bundle', 'an object');
  const policy = body.policy;
  if (policy !== null && !isObject(policy)) throw new BundleFormatError('bundle.policy: must be an object or null');
  return {
    revision: field(body, 'revision', isString, 'bundle', 'a string'),
    namespace: field(body, 'namespace', isString, 'bundle', 'a string'),
    istio: {
      ...parseModule(istio, 'bundle.istio'),
      version: field(istio, 'version', isInteger, 'bundle.istio', 'an integer'),
      policies: field(istio, 'policies', isStrings, 'bundle.istio', 'an array of strings'),
      headers: field(istio, 'headers', isStrings, 'bundle.istio', 'an array of header names'),
    },
    policy:
      policy === null
        ? null
        : {
            ...parseModule(policy, 'bundle.policy'),
            name: field(policy, 'name', isString, 'bundle.policy', 'a policy name'),
            revision: field(policy, 'revision', isInteger, 'bundle.policy', 'a revision number'),
          },
  };
}
