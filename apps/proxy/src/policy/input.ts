import {
  buildInput,
  type IstioAttributes,
  normaliseRequestPath,
  parsePathAndQuery,
  socketAddress,
  workloadIdentity,
} from '#libs/policy-runtime';
import type { AuthorizationRequest } from '../dataplane/authorization';

/** What the proxy knows about its own workload that AuthorizationPolicy selectors match on. */
export interface LocalWorkloadInfo {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Header values as one string each (repeated headers joined with `, `, as Envoy does). */
export function flattenHeaders(headers: AuthorizationRequest['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * The input document for one inbound request: opa-envoy-plugin's (source principal = the mTLS
 * peer's SPIFFE ID, destination principal = ours), plus `input.bowline.source` (identity and
 * namespace from the principal) and `input.bowline.destination` (our namespace, labels and the
 * app port) that Istio AuthorizationPolicies match on. Throws InputError for a malformed path
 * or body (the caller denies). `time` is the request's arrival (default now).
 */
export function requestInput(
  request: AuthorizationRequest,
  local: LocalWorkloadInfo,
  time?: Date,
): Record<string, unknown> {
  const input = buildInput({
    time,
    source: request.sourcePrincipal,
    destination: request.destinationPrincipal,
    method: request.method,
    path: normaliseRequestPath(request.path),
    host: request.host,
    headers: flattenHeaders(request.headers),
    protocol: request.protocol,
  });
  const attributes = input.attributes as Record<string, unknown>;
  if (request.sourceAddress) {
    attributes.source = {
      ...(attributes.source as object | undefined),
      address: socketAddress(request.sourceAddress, 0),
    };
  }
  if (request.destinationPort) {
    attributes.destination = {
      ...(attributes.destination as object | undefined),
      address: socketAddress(undefined, request.destinationPort),
    };
  }
  const bowline = input.bowline as Record<string, unknown>;
  bowline.source = request.sourcePrincipal ? workloadIdentity(request.sourcePrincipal) : {};
  bowline.destination = {
    ...(request.destinationPrincipal ? workloadIdentity(request.destinationPrincipal) : {}),
    namespace: local.namespace,
    labels: local.labels,
    ...(request.destinationPort ? { port: String(request.destinationPort) } : {}),
  };
  return input;
}

/**
 * The Istio attributes of one inbound request, straight from the request: always equal to
 * `istioAttributes(requestInput(request, local), headers)` (input.spec.ts checks it), without
 * building the opa-envoy document, which only a Rego policy and the decision log read. Throws
 * InputError where requestInput does (a path with an invalid escape: the caller denies).
 */
export function requestAttributes(
  request: AuthorizationRequest,
  local: LocalWorkloadInfo,
  headers: readonly string[],
): IstioAttributes {
  const path = normaliseRequestPath(request.path);
  if (path.includes('%')) parsePathAndQuery(path); // only an escape can make it throw
  const method = request.method.toUpperCase();
  const out: IstioAttributes = { 'request.headers': {} };
  const principal = request.sourcePrincipal;
  if (principal) {
    const trimmed = principal.startsWith('spiffe://') ? principal.slice('spiffe://'.length) : principal;
    if (trimmed !== '') out['source.principal'] = trimmed;
    const namespace = workloadIdentity(principal).namespace;
    if (namespace !== undefined) out['source.namespace'] = namespace;
  }
  if (request.sourceAddress) {
    out['source.ip'] = request.sourceAddress;
    out['remote.ip'] = request.sourceAddress;
  }
  if (request.destinationPort) out['destination.port'] = String(request.destinationPort);
  if (headers.length > 0) {
    // buildInput's header map: lower-cased names (a later spelling wins), then the pseudo-headers.
    const wanted = new Set(headers);
    const named = out['request.headers'];
    for (const [name, value] of Object.entries(request.headers)) {
      const lower = name.toLowerCase();
      if (value === undefined || !wanted.has(lower)) continue;
      named[lower] = Array.isArray(value) ? value.join(', ') : value;
    }
    const pseudo: Record<string, string | undefined> = { ':method': method, ':path': path, ':authority': request.host };
    for (const name of headers) {
      if (named[name] === undefined && pseudo[name] !== undefined) named[name] = pseudo[name];
    }
  }
  const host = request.host ?? (request.headers[':authority'] as string | undefined) ?? request.headers.host;
  if (host) out['request.host'] = host.toLowerCase();
  out['request.method'] = method;
  out['request.path'] = path.split('?')[0];
  out['destination.namespace'] = local.namespace;
  out['destination.labels'] = local.labels;
  return out;
}
