import { createHash } from 'node:crypto';
import type { IstioMatcher, IstioMatchers, IstioOutcome } from '#libs/policy-runtime';

/**
 * The authorization bundle as the policy service serves it (`GET /v1/bundles/authz`, format
 * `bowline.authz-bundle/v3`, see apps/policy/src/bundles/bundle-format.ts): the Istio
 * AuthorizationPolicy module generated for the namespace's policies, or for the workload's
 * labels (its input: the request's `istioAttributes`, with the attributes and headers it names;
 * its decision: an index into its outcomes), and optionally the active revision of one Rego
 * policy. Wasm arrives base64 and is checked against its SHA-256.
 */
export const BUNDLE_FORMAT = 'bowline.authz-bundle/v3';

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
  /** The workload labels the module was made for (it checks no scope), or null (it checks every policy's). */
  labels: Record<string, string> | null;
  istio: BundleModule & {
    version: number;
    policies: string[];
    headers: string[];
    attributes: string[];
    outcomes: IstioOutcome[];
    /** The tests the module applies to each value it reads; null when the bundle does not list them. */
    matchers: IstioMatchers | null;
  };
  /** `inputPaths`: the parts of the input its decision can depend on; null when any (or not sent). */
  policy: (BundleModule & { name: string; revision: number; inputPaths: string[][] | null }) | null;
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
const isLabels = (v: unknown): v is Record<string, string> | null =>
  v === null || (isObject(v) && Object.values(v).every((l) => typeof l === 'string'));
const isOutcomes = (v: unknown): v is IstioOutcome[] =>
  Array.isArray(v) &&
  v.every(
    (o) =>
      isObject(o) &&
      typeof o.allowed === 'boolean' &&
      typeof o.reason === 'string' &&
      (o.policy === null || typeof o.policy === 'string'),
  );

const MATCHER_KINDS = new Set(['exact', 'prefix', 'suffix', 'presence', 'cidr']);
const isMatcherList = (v: unknown): v is IstioMatcher[] =>
  Array.isArray(v) && v.every((m) => isObject(m) && MATCHER_KINDS.has(m.kind as string) && typeof m.value === 'string');
const isMatcherTable = (v: unknown): v is Record<string, IstioMatcher[]> =>
  isObject(v) && Object.values(v).every(isMatcherList);

/** `istio.matchers`, when the bundle has it (a policy service before it did not send it). */
function parseMatchers(istio: Json): IstioMatchers | null {
  if (istio.matchers === undefined) return null;
  const matchers = field(istio, 'matchers', isObject, 'bundle.istio', 'an object');
  const what = 'an object of [{kind, value}] lists';
  return {
    attributes: field(matchers, 'attributes', isMatcherTable, 'bundle.istio.matchers', what),
    headers: field(matchers, 'headers', isMatcherTable, 'bundle.istio.matchers', what),
  };
}

const isPaths = (v: unknown): v is string[][] =>
  Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length > 0 && isStrings(p));

/** `policy.inputPaths`, when the bundle has it (a policy service before it did not send it). */
function parseInputPaths(policy: Json): string[][] | null {
  if (policy.inputPaths === undefined) return null;
  return field(policy, 'inputPaths', isPaths, 'bundle.policy', 'an array of non-empty arrays of keys');
}

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
    labels: field(body, 'labels', isLabels, 'bundle', 'an object of label values or null'),
    istio: {
      ...parseModule(istio, 'bundle.istio'),
      version: field(istio, 'version', isInteger, 'bundle.istio', 'an integer'),
      policies: field(istio, 'policies', isStrings, 'bundle.istio', 'an array of strings'),
      headers: field(istio, 'headers', isStrings, 'bundle.istio', 'an array of header names'),
      attributes: field(istio, 'attributes', isStrings, 'bundle.istio', 'an array of attribute names'),
      outcomes: field(istio, 'outcomes', isOutcomes, 'bundle.istio', 'an array of {allowed, reason, policy}'),
      matchers: parseMatchers(istio),
    },
    policy:
      policy === null
        ? null
        : {
            ...parseModule(policy, 'bundle.policy'),
            name: field(policy, 'name', isString, 'bundle.policy', 'a policy name'),
            revision: field(policy, 'revision', isInteger, 'bundle.policy', 'a revision number'),
            inputPaths: parseInputPaths(policy),
          },
  };
}
