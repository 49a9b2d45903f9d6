import { type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders, request as httpRequest } from 'node:http';
import { type ClientHttp2Session, type ClientHttp2Stream, constants as h2 } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { UpstreamIdentityError } from './upstream-pools';

/** Why an upstream attempt failed, in the terms retry_on and the response flags use. */
export type FailureKind = 'connect' | 'reset' | 'refused-stream' | 'timeout' | 'cancelled';

export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

/** A request body: none, buffered (replayable for retries) or a stream (one attempt only). */
export type RequestBody =
  | { readonly kind: 'none' }
  | { readonly kind: 'buffer'; readonly data: Buffer }
  | { readonly kind: 'stream'; readonly stream: Readable; readonly onChunk?: (bytes: number) => void };

export interface OutgoingRequest {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly scheme: 'http' | 'https';
  readonly headers: OutgoingHttpHeaders;
  readonly body: RequestBody;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
  /** The response ended with its headers (HTTP/2 END_STREAM on HEADERS, e.g. gRPC trailers-only). */
  readonly endStream: boolean;
  /** Trailers, once the body has ended. */
  trailers(): IncomingHttpHeaders | undefined;
  /** Abandons the response (the downstream went away or a retry replaces it). */
  abort(): void;
}

export interface CallOptions {
  readonly connectTimeoutMs: number;
  /** Until the response headers arrive; 0 = no limit. */
  readonly timeoutMs: number;
  /** Called once the call can be cancelled (downstream reset). */
  readonly onCancel: (cancel: () => void) => void;
  /** `tls` targets report connection establishment after the handshake. */
  readonly tls: boolean;
}

const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function classify(error: unknown, connected: boolean): UpstreamFailure {
  if (error instanceof UpstreamFailure) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code ?? '';
  if (error instanceof UpstreamIdentityError || CONNECT_ERRORS.has(code) || code.startsWith('ERR_SSL') || !connected) {
    return new UpstreamFailure('connect', `${code || 'connect'}: ${message}`);
  }
  return new UpstreamFailure('reset', `${code || 'reset'}: ${message}`);
}

/** One HTTP/1.1 attempt through a keep-alive agent. */
export function sendHttp1(
  agent: Agent,
  target: { address: string; port: number },
  request: OutgoingRequest,
  options: CallOptions,
): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    let connected = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const headers = { ...request.headers, host: request.authority };
    const req = httpRequest({
      agent,
      protocol: (agent as Agent & { protocol?: string }).protocol ?? 'http:',
      host: target.address,
      port: target.port,
      method: request.method,
      path: request.path,
      headers,
      setHost: false,
    });
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(classify(error, connected));
    };
    req.on('socket', (socket: Socket) => {
      // A pooled socket is already connected (and, for mTLS, past its handshake); a new one is
      // still connecting when the request gets it.
      if (!socket.connecting) {
        connected = true;
        return;
      }
      const connectTimer = setTimeout(
        () => req.destroy(new UpstreamFailure('connect', `connect timeout after ${options.connectTimeoutMs} ms`)),
        options.connectTimeoutMs,
      );
      socket.once(options.tls ? 'secureConnect' : 'connect', () => {
        connected = true;
        clearTimeout(connectTimer);
      });
      socket.once('close', () => clearTimeout(connectTimer));
    });
    if (options.timeoutMs > 0) {
      timer = setTimeout(() => {
        fail(new UpstreamFailure('timeout', `no response within ${options.timeoutMs} ms`));
        req.destroy();
      }, options.timeoutMs);
    }
    req.on('error', fail);
    req.on('response', (res) => {
      if (settled) {
        res.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve({
        status: res.statusCode ?? 502,
        headers: res.headers,
        body: res,
        endStream: false,
        trailers: () => (res.trailers && Object.keys(res.trailers).length > 0 ? res.trailers : undefined),
        abort: () => req.destroy(),
      });
    });
    options.onCancel(() => {
      fail(new UpstreamFailure('cancelled', 'the downstream went away'));
      req.destroy();
    });
    writeBody(request.body, req);
  });
}

/** One HTTP/2 attempt on a pooled session (used for HTTP/2 and gRPC downstreams). */
export function sendHttp2(
  session: ClientHttp2Session,
  request: OutgoingRequest,
  options: CallOptions,
): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    const connected = () => !session.connecting;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(classify(error, connected()));
    };
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(
        {
          ...request.headers,
          [h2.HTTP2_HEADER_METHOD]: request.method,
          [h2.HTTP2_HEADER_PATH]: request.path,
          [h2.HTTP2_HEADER_AUTHORITY]: request.authority,
          [h2.HTTP2_HEADER_SCHEME]: request.scheme,
        },
        { endStream: request.body.kind === 'none' },
      );
    } catch (error) {
      fail(error);
      return;
    }
    let connectTimer: NodeJS.Timeout | undefined;
    if (session.connecting) {
      connectTimer = setTimeout(
        () => fail(new UpstreamFailure('connect', `connect timeout after ${options.connectTimeoutMs} ms`)),
        options.connectTimeoutMs,
      );
      session.once('connect', () => clearTimeout(connectTimer));
    }
    if (options.timeoutMs > 0) {
      timer = setTimeout(() => {
        fail(new UpstreamFailure('timeout', `no response within ${options.timeoutMs} ms`));
        stream.close(h2.NGHTTP2_CANCEL);
      }, options.timeoutMs);
    }
    stream.on('error', (error: Error & { code?: string }) => {
      clearTimeout(connectTimer);
      if (/REFUSED_STREAM/.test(error.message)) fail(new UpstreamFailure('refused-stream', error.message));
      else fail(error);
    });
    stream.on('close', () => {
      clearTimeout(connectTimer);
      if (!settled) fail(new UpstreamFailure(connected() ? 'reset' : 'connect', `stream closed (${stream.rstCode})`));
    });
    stream.on('trailers', (received) => (trailers = received));
    stream.on('response', (headers, flags) => {
      clearTimeout(connectTimer);
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const status = Number(headers[h2.HTTP2_HEADER_STATUS] ?? 502);
      resolve({
        status,
        headers,
        body: stream,
        endStream: (flags & h2.NGHTTP2_FLAG_END_STREAM) !== 0,
        trailers: () => trailers,
        abort: () => stream.close(h2.NGHTTP2_CANCEL),
      });
    });
    options.onCancel(() => {
      fail(new UpstreamFailure('cancelled', 'the downstream went away'));
      if (!stream.closed) stream.close(h2.NGHTTP2_CANCEL);
    });
    if (request.body.kind !== 'none') writeBody(request.body, stream);
  });
}

function writeBody(body: RequestBody, sink: NodeJS.WritableStream & { destroy(error?: Error): void }): void {
  if (body.kind === 'none') sink.end();
  else if (body.kind === 'buffer') sink.end(body.data);
  else {
    const onChunk = body.onChunk;
    if (onChunk) body.stream.on('data', (chunk: Buffer) => onChunk(chunk.length));
    body.stream.pipe(sink);
    body.stream.once('error', (error) => sink.destroy(error));
  }
}
