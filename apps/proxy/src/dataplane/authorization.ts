import type { IncomingHttpHeaders } from 'node:http';

/** What the inbound listener knows about a request when it asks whether to let it through. */
export interface AuthorizationRequest {
  readonly method: string;
  /** Path with query, as received. */
  readonly path: string;
  /** Host / :authority as received. */
  readonly host: string;
  readonly headers: IncomingHttpHeaders;
  /** `HTTP/1.1` or `HTTP/2`. */
  readonly protocol: string;
  /** The verified peer's SPIFFE ID (mTLS); undefined for plaintext. */
  readonly sourcePrincipal?: string;
  readonly sourceAddress?: string;
  /** Our own SPIFFE ID. */
  readonly destinationPrincipal?: string;
  /** The app port the request is for. */
  readonly destinationPort?: number;
}

/** The answer: allowed (with headers to add upstream), or denied with what to send back. */
export interface AuthorizationResult {
  readonly allowed: boolean;
  /** Denied: the status to answer with (default 403). */
  readonly status?: number;
  /** Allowed: headers added to the request to the app; denied: headers of the response. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Denied: the response body (default `RBAC: access denied`, as Envoy says). */
  readonly body?: string;
  /** For the access log and debug logs: which policy decided, or why it failed. */
  readonly reason?: string;
}

/**
 * In-proxy authorization on the destination side (where Istio's sidecars enforce
 * AuthorizationPolicy and ext_authz): called for every inbound request before it is forwarded.
 * Must fail closed: an error or a missing policy bundle is a denial.
 */
export interface InboundAuthorizer {
  authorize(request: AuthorizationRequest): AuthorizationResult | Promise<AuthorizationResult>;
}
