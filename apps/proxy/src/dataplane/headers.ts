import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { PeerIdentity } from './tls-material';

/** Header fields that describe one connection, never forwarded (RFC 9110 §7.6.1, plus the proxy ones). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Headers the app must not be able to forge towards the next hop. */
const SANITIZED_OUTBOUND = new Set(['x-forwarded-client-cert']);

/**
 * Copies request or response headers for the next hop: drops hop-by-hop fields, whatever
 * `Connection` names, HTTP/2 pseudo-headers, and `drop`. `keepTe` keeps `te: trailers` (gRPC needs
 * it end to end over HTTP/2). `keepUpgrade` keeps `connection: upgrade` + `upgrade` (WebSocket).
 */
export function forwardHeaders(
  headers: IncomingHttpHeaders,
  options: { keepTe?: boolean; keepUpgrade?: boolean; drop?: ReadonlySet<string> } = {},
): OutgoingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    if (HOP_BY_HOP.has(name) || named?.has(name) || options.drop?.has(name)) continue;
    out[name] = headers[name];
  }
  if (options.keepTe && typeof headers.te === 'string' && /\btrailers\b/i.test(headers.te)) out.te = 'trailers';
  if (options.keepUpgrade && headers.upgrade) {
    out.connection = 'upgrade';
    out.upgrade = headers.upgrade;
  }
  return out;
}

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  return new Set(
    text
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** The outbound side: the app's own XFCC is dropped (only a receiving sidecar may set it). */
export const OUTBOUND_DROP = SANITIZED_OUTBOUND;

/** Keeps a well-formed `x-request-id` or generates one (a UUID, as Envoy does). */
export function ensureRequestId(headers: OutgoingHttpHeaders): string {
  const current = headers['x-request-id'];
  if (typeof current === 'string' && current.length > 0 && current.length <= 128 && /^[\x21-\x7e]+$/.test(current)) {
    return current;
  }
  const id = randomUUID();
  headers['x-request-id'] = id;
  return id;
}

/**
 * Envoy's `x-forwarded-client-cert` element for a verified peer, as Istio's sidecars send it to
 * the app (SANITIZE_SET: only what this proxy verified): `By=<us>;Hash=<sha256 of the peer
 * certificate>;URI=<peer SPIFFE ID>`.
 */
export function xfcc(self: string, peer: PeerIdentity): string {
  return `By=${self};Hash=${peer.hash};URI=${peer.spiffeId}`;
}

/** Splits `host[:port]` (IPv6 literals in brackets) into a lower-case host and an optional port. */
export function splitAuthority(authority: string): { host: string; port?: number } {
  const value = authority.trim().toLowerCase();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    const port = value.slice(end + 1).startsWith(':') ? Number(value.slice(end + 2)) : undefined;
    return { host: value.slice(0, end + 1), port: validPort(port) };
  }
  const colon = value.lastIndexOf(':');
  if (colon === -1) return { host: value };
  return { host: value.slice(0, colon), port: validPort(Number(value.slice(colon + 1))) };
}

function validPort(port: number | undefined): number | undefined {
  return port !== undefined && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

/**
 * The target of a request line: origin-form (`/path`) with the Host header, or absolute-form
 * (`http://reviews:9080/path`, what HTTP_PROXY users send), as authority + path.
 */
export function requestTarget(url: string, host: string | undefined): { authority: string; path: string } | undefined {
  if (url.startsWith('/')) return host ? { authority: host, path: url } : undefined;
  if (url === '*') return host ? { authority: host, path: '*' } : undefined;
  const match = /^http:\/\/([^/?#]+)([^#]*)$/i.exec(url);
  if (!match) return undefined;
  return { authority: match[1], path: match[2] === '' ? '/' : match[2].startsWith('/') ? match[2] : `/${match[2]}` };
}

/** `application/grpc`, `application/grpc+proto`, ... */
export function isGrpc(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}
