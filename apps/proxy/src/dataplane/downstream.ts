import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants as h2, type ServerHttp2Stream } from 'node:http2';
import type { Readable, Writable } from 'node:stream';
import { isGrpc } from './headers';

/** gRPC status codes Envoy uses for its local replies. */
const GRPC_STATUS_FOR_HTTP: Record<number, number> = { 400: 13, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 4 };

/**
 * One request as the forwarder sees it, whatever the downstream protocol: what was asked, the
 * body, and how to answer. HTTP/1.1 (`IncomingMessage`/`ServerResponse`) and HTTP/2 streams
 * (core API, no compatibility layer) both implement it.
 */
export interface Downstream {
  readonly protocol: 'HTTP/1.1' | 'HTTP/2';
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly grpc: boolean;
  /** Null when the request has no body. */
  readonly body: Readable | null;
  /** Declared body length, when known. */
  readonly contentLength: number | undefined;
  /** Sends the response head; the returned stream takes the body (already ended when `end`). */
  respond(status: number, headers: OutgoingHttpHeaders, end: boolean): Writable;
  /** Ends the response after its body (or with `body`, its last part), with trailers when the upstream sent some. */
  finish(trailers: IncomingHttpHeaders | undefined, body?: Buffer): void;
  /** A reply of this proxy's own (no route, no upstream, ...); gRPC callers get a grpc-status. */
  localReply(status: number, message: string, headers?: Readonly<Record<string, string>>): void;
  /** A gRPC trailers-only reply of this proxy's own with `grpc-status` (fault injection). */
  grpcReply(grpcStatus: number, message: string): void;
  /** Called once if the client goes away before the response is complete. */
  onAbort(listener: () => void): void;
  /** Called once when the exchange is over (complete or not). */
  onDone(listener: () => void): void;
  readonly responseStarted: boolean;
  bytesSent(): number;
  bytesReceived(): number;
  /** Adds relayed response body bytes to bytesSent. */
  countSent(bytes: number): void;
  /** Adds forwarded request body bytes to bytesReceived. */
  countReceived(bytes: number): void;
}

/** The byte counts every downstream keeps for the access log and metrics. */
abstract class ByteCounts {
  protected sent = 0;
  protected received = 0;

  bytesSent(): number {
    return this.sent;
  }

  countSent(bytes: number): void {
    this.sent += bytes;
  }

  countReceived(bytes: number): void {
    this.received += bytes;
  }

  bytesReceived(): number {
    return this.received;
  }
}

export class Http1Downstream extends ByteCounts implements Downstream {
  readonly protocol = 'HTTP/1.1';
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly grpc: boolean;
  readonly body: Readable | null;
  readonly contentLength: number | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    readonly authority: string,
    readonly path: string,
  ) {
    super();
    this.method = req.method ?? 'GET';
    this.headers = req.headers;
    this.grpc = isGrpc(req.headers['content-type']);
    const length = req.headers['content-length'];
    this.contentLength = length !== undefined ? Number(length) : undefined;
    const hasBody =
      this.contentLength !== undefined ? this.contentLength > 0 : req.headers['transfer-encoding'] !== undefined;
    this.body = hasBody ? req : null;
    if (!hasBody) req.resume();
  }

  get responseStarted(): boolean {
    return this.res.headersSent;
  }

  respond(status: number, headers: OutgoingHttpHeaders, end: boolean): Writable {
    this.res.writeHead(status, headers);
    if (end) this.res.end();
    return this.res;
  }

  finish(trailers: IncomingHttpHeaders | undefined, body?: Buffer): void {
    if (trailers && this.res.getHeader('trailer')) this.res.addTrailers(trailers as Record<string, string>);
    if (body && body.length > 0) this.res.end(body);
    else this.res.end();
  }

  localReply(status: number, message: string, headers?: Readonly<Record<string, string>>): void {
    if (this.res.headersSent) {
      this.res.destroy();
      return;
    }
    const body = `${message}\n`;
    this.sent += Buffer.byteLength(body);
    this.res.writeHead(status, {
      ...headers,
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(body),
    });
    this.res.end(body);
  }

  grpcReply(grpcStatus: number, message: string): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, {
      'content-type': 'application/grpc',
      'grpc-status': String(grpcStatus),
      'grpc-message': encodeURIComponent(message),
      'content-length': 0,
    });
    this.res.end();
  }

  onAbort(listener: () => void): void {
    this.res.once('close', () => {
      if (!this.res.writableFinished) listener();
    });
  }

  onDone(listener: () => void): void {
    this.res.once('close', listener);
  }
}

export class Http2Downstream extends ByteCounts implements Downstream {
  readonly protocol = 'HTTP/2';
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly grpc: boolean;
  readonly body: Readable | null;
  readonly contentLength: number | undefined;
  private started = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    endStream: boolean,
  ) {
    super();
    this.method = String(headers[h2.HTTP2_HEADER_METHOD] ?? 'GET');
    this.authority = String(headers[h2.HTTP2_HEADER_AUTHORITY] ?? headers.host ?? '');
    this.path = String(headers[h2.HTTP2_HEADER_PATH] ?? '/');
    this.grpc = isGrpc(headers['content-type']);
    const length = headers['content-length'];
    this.contentLength = length !== undefined ? Number(length) : undefined;
    this.body = endStream ? null : stream;
    stream.on('error', () => undefined);
  }

  get responseStarted(): boolean {
    return this.started;
  }

  respond(status: number, headers: OutgoingHttpHeaders, end: boolean): Writable {
    this.started = true;
    if (!this.stream.closed && !this.stream.destroyed) {
      this.stream.respond({ ...headers, [h2.HTTP2_HEADER_STATUS]: status }, { endStream: end, waitForTrailers: !end });
    }
    return this.stream;
  }

  finish(trailers: IncomingHttpHeaders | undefined, body?: Buffer): void {
    const stream = this.stream;
    if (stream.closed || stream.destroyed) return;
    stream.once('wantTrailers', () => {
      if (trailers && Object.keys(trailers).length > 0) stream.sendTrailers(stripPseudo(trailers));
      else stream.close();
    });
    if (body && body.length > 0) stream.end(body);
    else stream.end();
  }

  localReply(status: number, message: string, headers?: Readonly<Record<string, string>>): void {
    const stream = this.stream;
    if (stream.closed || stream.destroyed) return;
    if (this.started) {
      stream.close(h2.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (this.grpc) {
      // Trailers-only, as Envoy answers gRPC callers: HTTP 200 with the status in the headers.
      this.grpcReply(GRPC_STATUS_FOR_HTTP[status] ?? 2, message);
      return;
    }
    this.started = true;
    const body = `${message}\n`;
    this.sent += Buffer.byteLength(body);
    stream.respond({ ...headers, [h2.HTTP2_HEADER_STATUS]: status, 'content-type': 'text/plain' });
    stream.end(body);
  }

  grpcReply(grpcStatus: number, message: string): void {
    const stream = this.stream;
    if (this.started || stream.closed || stream.destroyed) return;
    this.started = true;
    stream.respond(
      {
        [h2.HTTP2_HEADER_STATUS]: 200,
        'content-type': 'application/grpc',
        'grpc-status': String(grpcStatus),
        'grpc-message': encodeURIComponent(message),
      },
      { endStream: true },
    );
  }

  onAbort(listener: () => void): void {
    this.stream.once('close', () => {
      if (this.stream.rstCode !== h2.NGHTTP2_NO_ERROR) listener();
    });
  }

  onDone(listener: () => void): void {
    this.stream.once('close', listener);
  }
}

function stripPseudo(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (!name.startsWith(':')) out[name] = headers[name];
  return out;
}
