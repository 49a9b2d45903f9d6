import type { IstioMatchers, IstioOutcome } from '#libs/policy-runtime';

/**
 * The authorization bundle a proxy enforces, as `GET /v1/bundles/authz` serves it (JSON,
 * `format: "bowline.authz-bundle/v3"`). One bundle holds up to two compiled policies, each the
 * `policy.wasm` OPA's `opa build -t wasm` produced plus its base data document:
 *
 * - `istio`: the Istio AuthorizationPolicy module generated for the policies that can apply to
 *   the proxy's namespace (its own namespace's and the root namespace's; generateIstioAuthz,
 *   entrypoint `bowline/istio/authz/decision`, data `{}`). Its input is the flat attribute
 *   document of libs/policy-runtime `istioAttributes`, carrying only the attributes named in
 *   `attributes` and the request headers named in `headers`. Its decision is compact: an array
 *   indexing `outcomes` (libs/policy-runtime `expandIstioDecision` turns it into the policy
 *   service's decision object, without the `applicable` list).
 *   - With `?labels=`, `labels` holds them and the module holds only the policies whose
 *     selector matches them; it does not check namespace or selectors at request time (every
 *     policy in it applies), so a proxy refuses a bundle made for labels other than its own.
 *   - Without, `labels` is null and the module matches selectors against `destination.labels`.
 *   (v2 carried the decision object and always checked the scope; v1 one generic module and
 *   the policies as data. An older proxy refuses a v3 bundle and keeps enforcing its last one
 *   rather than misread it.)
 * - `policy`: the active revision of the Rego policy the proxy named (`?policy=`), or null.
 *   With `inputPaths`, the parts of the input its decision can depend on (found in OPA's plan
 *   when the revision compiled): a proxy may keep a decision by those parts of the input.
 *
 * `revision` is the bundle's ETag (a SHA-256 of what the proxy would load): the same revision
 * means the same decisions, so a proxy polls with `If-None-Match` and gets 304 while nothing
 * changed. Wasm is base64 (standard alphabet).
 */
export const BUNDLE_FORMAT = 'bowline.authz-bundle/v3';

/** One compiled module and its data. */
export interface BundleModule {
  entrypoint: string;
  /** `policy.wasm`, base64. */
  wasm: string;
  wasmSha256: string;
  data: unknown;
}

/** The Istio AuthorizationPolicy part. */
export interface IstioBundlePart extends BundleModule {
  /** Galley's resource version the policies reflect. */
  version: number;
  /** `<namespace>/<name>` of every policy compiled into the module, in set order. */
  policies: string[];
  /** The request headers (lower-case) the module reads: the only ones its input needs. */
  headers: string[];
  /** The attributes (istioAttributes keys, `request.headers` apart) the module reads: the only ones its input needs. */
  attributes: string[];
  /** The verdicts the module's compact decision indexes. */
  outcomes: IstioOutcome[];
  /**
   * The tests the module applies to each attribute and header it reads (exact, prefix, suffix,
   * presence, CIDR): a proxy may keep one decision for requests whose values pass the same
   * tests. Added within v3: a proxy that does not know it ignores it.
   */
  matchers: IstioMatchers;
}

/** The Rego policy part: the active revision of one policy. */
export interface RegoBundlePart extends BundleModule {
  name: string;
  revision: number;
  /**
   * The parts of the input the decision can depend on, as keys from `input`; absent when it may
   * depend on any (or the revision predates the analysis). Added within v3: a proxy that does
   * not know it evaluates every request.
   */
  inputPaths?: string[][];
}

export interface AuthzBundle {
  format: typeof BUNDLE_FORMAT;
  revision: string;
  namespace: string;
  /** The workload labels the module was specialised to (`?labels=`), or null: it checks every policy's scope. */
  labels: Record<string, string> | null;
  generatedAt: string;
  istio: IstioBundlePart;
  policy: RegoBundlePart | null;
}
