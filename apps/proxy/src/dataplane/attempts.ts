import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { ResponseFlag } from '../telemetry/types';
import type { Downstream } from './downstream';
import { forwardHeaders } from './headers';
import type { FailureKind, RequestBody, UpstreamFailure, UpstreamResponse } from './upstream-call';

/** Largest request body buffered so that it can be replayed by a retry (Envoy buffers too). */
export const RETRY_BUFFER_LIMIT = 64 * 1024;

/** Reads the whole body when it is small enough to replay; otherwise streams it (one attempt). */
export async function requestBody(down: Downstream, wantReplay: boolean): Promise<RequestBody> {
  if (!down.body) return { kind: 'none' };
  if (!wantReplay || down.contentLength === undefined || down.contentLength > RETRY_BUFFER_LIMIT) {
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
