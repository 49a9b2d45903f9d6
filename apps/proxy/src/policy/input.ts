import { buildInput, normaliseRequestPath, socketAddress, workloadIdentity } from '#libs/policy-runtime';
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
 * or body (the caller denies).
 */
export function requestInput(request: AuthorizationRequest, local: LocalWorkloadInfo): Record<string, unknown> {
  const input = buildInput({
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
