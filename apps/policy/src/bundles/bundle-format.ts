/**
 * The authorization bundle a proxy enforces, as `GET /v1/bundles/authz` serves it (JSON,
 * `format: "bowline.authz-bundle/v2"`). One bundle holds up to two compiled policies, each the
 * `policy.wasm` OPA's `opa build -t wasm` produced plus its base data document:
 *
 * - `istio`: the Istio AuthorizationPolicy module generated for the policies that can apply to
 *   the proxy's namespace (its own namespace's and the root namespace's; with `?labels=`, only
 *   those whose selector matches the workload's labels; generateIstioAuthz,
 *   entrypoint `bowline/istio/authz/decision`, data `{}`). Its input is the flat attribute
 *   document of libs/policy-runtime `istioAttributes`, carrying only the request headers named
 *   in `headers`. Workload selectors are matched against `destination.labels` at request time.
 *   Its decision is the policy service's without the `applicable` list (the proxy does not read it).
 *   (v1 carried one generic module and the policies as data, with the opa-envoy input: a v1
 *   proxy refuses a v2 bundle and keeps enforcing its last one rather than misread it.)
 * - `policy`: the active revision of the Rego policy the proxy named (`?policy=`), or null.
 *
 * `revision` is the bundle's ETag (a SHA-256 of what the proxy would load): the same revision
 * means the same decisions, so a proxy polls with `If-None-Match` and gets 304 while nothing
 * changed. Wasm is base64 (standard alphabet).
 */
export const BUNDLE_FORMAT = 'bowline.authz-bundle/v2';

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
}

/** The Rego policy part: the active revision of one policy. */
export interface RegoBundlePart extends BundleModule {
  name: string;
  revision: number;
}

export interface AuthzBundle {
  format: typeof BUNDLE_FORMAT;
  revision: string;
  namespace: string;
  generatedAt: string;
  istio: IstioBundlePart;
  policy: RegoBundlePart | null;
}
