import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { ResponseFlag } from '../telemetry/types';
import type { Downstream } from './downstream';
import { forwardHeaders } from './headers';
import type { FailureKind, RequestBody, UpstreamFailure, UpstreamResponse } from './upstream-call';

/** Largest request body buffered so that it can be replayed by a retry (Envoy buffers too). */
export const RETRY_BUFFER_LIMIT = 64 * 1024;

/**
 * Bodies up to this size (by Content-Length) are read whole and sent with their headers in one
 * write: one TLS record and one syscall instead of two, which is most of a small request's cost.
 */
export const SMALL_BODY_LIMIT = 16 * 1024;

/**
 * Reads the whole body when it is small (one write upstream) or small enough to replay for a
 * retry; otherwise streams it (one attempt only).
 */
export async function requestBody(down: Downstream, wantReplay: boolean): Promise<RequestBody> {
  if (!down.body) return { kind: 'none' };
  const limit = wantReplay ? RETRY_BUFFER_LIMIT : SMALL_BODY_LIMIT;
  if (down.contentLength === undefined || down.contentLength > limit) {
    // Counted as it flows: a 'data' listener added now would start the flow before the upstream is ready.
    const stream = down.body;
    return { kind: 'stream', stream, onChunk: (bytes) => down.countReceived(bytes) };
  }
  const data = await readAll(down.body);
  down.countReceived(data.length);
  return { kind: 'buffer', data };
}

function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** The response flag and status a failed attempt ends the request with. */
export function failureReply(
  failure: UpstreamFailure,
  retried: boolean,
): { status: number; flag: ResponseFlag; message: string } {
  const flagFor: Record<FailureKind, ResponseFlag> = {
    connect: 'UF',
    reset: 'UC',
    'refused-stream': 'UR',
    timeout: 'UT',
    cancelled: 'DC',
  };
  const flag = retried && failure.kind !== 'timeout' && failure.kind !== 'cancelled' ? 'URX' : flagFor[failure.kind];
  const status = failure.kind === 'timeout' ? 504 : failure.kind === 'cancelled' ? 499 : 503;
  const what =
    failure.kind === 'timeout'
      ? 'upstream request timeout'
      : failure.kind === 'connect'
        ? 'upstream connect error or disconnect/reset before headers. reset reason: connection failure'
        : 'upstream connect error or disconnect/reset before headers. reset reason: connection termination';
  return { status, flag, message: what };
}

/** Streams an upstream response to the downstream, trailers included; resolves when it is over. */
export function relayResponse(down: Downstream, response: UpstreamResponse): Promise<void> {
  const headers = forwardHeaders(response.headers);
  if (response.endStream) {
    down.respond(response.status, headers, true);
    return Promise.resolve();
  }
  const length = Number(response.headers['content-length']);
  if (down.protocol === 'HTTP/1.1' && length >= 0 && length <= SMALL_BODY_LIMIT) {
    return relayWhole(down, response, headers);
  }
  const sink = down.respond(response.status, headers, false);
  return new Promise((resolve) => {
    const body = response.body;
    body.on('data', (chunk: Buffer) => {
      down.countSent(chunk.length);
      if (!sink.write(chunk)) {
        body.pause();
        sink.once('drain', () => body.resume());
      }
    });
    body.once('end', () => {
      down.finish(response.trailers() as IncomingHttpHeaders | undefined);
      resolve();
    });
    body.once('error', () => {
      sink.destroy();
      resolve();
    });
    body.once('close', () => resolve());
    down.onAbort(() => {
      response.abort();
      resolve();
    });
  });
}

/** A small HTTP/1.1 response: read whole, then sent with its head in one write. */
async function relayWhole(
  down: Downstream,
  response: UpstreamResponse,
  headers: ReturnType<typeof forwardHeaders>,
): Promise<void> {
  let data: Buffer;
  try {
    data = await readAll(response.body);
  } catch {
    down.localReply(502, 'upstream reset while sending the response body');
    return;
  }
  down.respond(response.status, headers, false);
  down.countSent(data.length);
  down.finish(response.trailers() as IncomingHttpHeaders | undefined, data);
}

/** Is the failure or status one `retryOn` covers (Envoy's retry_on vocabulary)? */
export function shouldRetry(
  retryOn: ReadonlySet<string>,
  outcome: { status?: number; failure?: FailureKind; grpcStatus?: string },
  retriableStatusCodes?: ReadonlySet<number>,
): boolean {
  const { status, failure, grpcStatus } = outcome;
  if (failure === 'connect')
    return retryOn.has('connect-failure') || retryOn.has('5xx') || retryOn.has('gateway-error');
  if (failure === 'reset') return retryOn.has('reset') || retryOn.has('5xx');
  if (failure === 'refused-stream') return retryOn.has('refused-stream') || retryOn.has('5xx');
  if (failure) return false;
  if (status !== undefined) {
    if (status >= 500 && retryOn.has('5xx')) return true;
    if ((status === 502 || status === 503 || status === 504) && retryOn.has('gateway-error')) return true;
    if (retryOn.has('retriable-status-codes') && (retriableStatusCodes ?? new Set([503])).has(status)) return true;
    if (status === 409 && retryOn.has('retriable-4xx')) return true;
  }
  if (grpcStatus === '14' && retryOn.has('unavailable')) return true;
  if (grpcStatus === '1' && retryOn.has('cancelled')) return true;
  if (grpcStatus === '4' && retryOn.has('deadline-exceeded')) return true;
  return false;
}
