/**
 * The request attributes Istio AuthorizationPolicy conditions read, as one flat document keyed
 * by Istio's attribute names: the input of the Istio authorization module the policy service
 * generates per policy set. It is derived from the opa-envoy-plugin input document (`buildInput`
 * plus `input.bowline`), so the policy service's what-if checks and the proxies decide on the
 * same attributes. A flat document of a few strings is what makes the module cheap to call:
 * the input crosses into wasm as JSON, and its size and nesting are most of a decision's cost.
 *
 * An attribute the request does not have is left out (never `null` or `""`): conditions on it
 * do not match, negated ones do, as in Istio.
 */
export interface IstioAttributes {
  /** The mTLS peer's SPIFFE ID without `spiffe://`. */
  'source.principal'?: string;
  'source.namespace'?: string;
  'source.ip'?: string;
  /** The original client IP (`bowline.source.remoteIp`), else the peer's; only when the peer's is known. */
  'remote.ip'?: string;
  'destination.ip'?: string;
  /** The workload port, as a string. */
  'destination.port'?: string;
  /** Lower-cased. */
  'request.host'?: string;
  'request.method'?: string;
  /** The path without its query string. */
  'request.path'?: string;
  /** Only the headers asked for (names lower-case). */
  'request.headers': Record<string, string>;
  'connection.sni'?: string;
  'request.auth.principal'?: string;
  'request.auth.presenter'?: string;
  'request.auth.audiences'?: string[];
  'request.auth.claims'?: Record<string, unknown>;
  /** The workload's namespace and labels, which policies' scope and selectors match. */
  'destination.namespace'?: string;
  'destination.labels'?: Record<string, unknown>;
}

type Json = Record<string, unknown>;
const object = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
const string = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const address = (peer: unknown): string | undefined =>
  string(object(object(object(peer)?.address)?.socketAddress)?.address);

/**
 * The attributes of the request `input` describes. `headers` names the request headers to
 * carry (lower-case): the module reads no other, so leaving the rest out changes no decision.
 */
export function istioAttributes(input: Json, headers: readonly string[]): IstioAttributes {
  const attributes = object(input.attributes);
  const http = object(object(attributes?.request)?.http);
  const bowline = object(input.bowline);
  const source = object(bowline?.source);
  const destination = object(bowline?.destination);
  const auth = object(object(bowline?.request)?.auth);
  const out: IstioAttributes = { 'request.headers': {} };
  const set = <K extends keyof IstioAttributes>(key: K, value: IstioAttributes[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  const principal = string(object(attributes?.source)?.principal);
  const trimmed = principal?.startsWith('spiffe://') ? principal.slice('spiffe://'.length) : principal;
  set('source.principal', trimmed === '' ? undefined : trimmed);
  set('source.namespace', string(source?.namespace));
  const peerIp = address(attributes?.source);
  set('source.ip', peerIp);
  const remoteIp = source?.remoteIp;
  set('remote.ip', peerIp === undefined ? undefined : remoteIp === undefined ? peerIp : string(remoteIp));
  set('destination.ip', address(attributes?.destination));
  set('destination.port', string(destination?.port));
  set('request.host', string(http?.host)?.toLowerCase());
  set('request.method', string(http?.method));
  set('request.path', string(http?.path)?.split('?')[0]);
  const requestHeaders = object(http?.headers);
  for (const name of headers) {
    const value = string(requestHeaders?.[name]);
    if (value !== undefined) out['request.headers'][name] = value;
  }
  set('connection.sni', string(object(attributes?.tlsSession)?.sni));
  set('request.auth.principal', string(auth?.principal));
  set('request.auth.presenter', string(auth?.presenter));
  const audiences = auth?.audiences;
  if (typeof audiences === 'string') out['request.auth.audiences'] = [audiences];
  else if (Array.isArray(audiences)) out['request.auth.audiences'] = audiences.filter((a) => typeof a === 'string');
  set('request.auth.claims', object(auth?.claims));
  set('destination.namespace', string(destination?.namespace));
  set('destination.labels', object(destination?.labels));
  return out;
}
