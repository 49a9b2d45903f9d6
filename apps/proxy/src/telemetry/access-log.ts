import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { responseFlagsText } from './response-flags';
import type { RequestRecord, RequestReporter } from './types';

/**
 * One access-log line, named after Envoy's command operators as Istio's JSON access log
 * names them (`%START_TIME%` → `start_time`...). Unknown values are `null`, as in Envoy's
 * JSON format. Only these fields are ever logged: no header other than the user agent, the
 * request ID and the authority (never `authorization` or `cookie`).
 */
export interface AccessLogEntry {
  readonly start_time: string;
  readonly method: string | null;
  readonly path: string | null;
  /** `HTTP/1.1`, `HTTP/2`; null for TCP. */
  readonly protocol: string | null;
  /** 0 when no response was sent (and for TCP), as Envoy logs it. */
  readonly response_code: number;
  /** `-` when none, else comma-separated (`UH,URX`). */
  readonly response_flags: string;
  readonly bytes_received: number;
  readonly bytes_sent: number;
  /** Milliseconds, whole. */
  readonly duration: number;
  readonly user_agent: string | null;
  readonly request_id: string | null;
  readonly authority: string | null;
  readonly upstream_host: string | null;
  readonly upstream_cluster: string | null;
  readonly route_name: string | null;
  /** SPIFFE ID of the downstream peer (the calling sidecar, on inbound traffic). */
  readonly downstream_peer_principal: string | null;
  /** SPIFFE ID of the upstream peer (the called sidecar, on outbound traffic). */
  readonly upstream_peer_principal: string | null;
  readonly upstream_transport_failure_reason: string | null;
}

export interface AccessLogOptions {
  /** Where lines go; default `process.stdout`. */
  readonly stream?: Writable;
  /** Longest a line waits in the buffer; default 50 ms. */
  readonly flushIntervalMs?: number;
  /** Buffered characters that trigger a flush before the interval; default 64 KiB. */
  readonly flushBytes?: number;
  /** Buffered characters (while the stream is backed up) beyond which lines are dropped; default 4 MiB. */
  readonly maxBufferedBytes?: number;
  /** Longest logged path, user agent or authority; longer values are cut. Default 4096. */
  readonly maxFieldLength?: number;
  /** Told of every dropped line (e.g. `IstioMetrics.recordAccessLogDrops`). */
  readonly onDrop?: (lines: number) => void;
}

const DEFAULTS = {
  flushIntervalMs: 50,
  flushBytes: 64 * 1024,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxFieldLength: 4096,
};

/**
 * Envoy-style JSON access log: one line per finished request. Lines are buffered and written
 * in batches (every `flushIntervalMs` or `flushBytes`, whichever first), never on the request
 * path; while the stream is backed up (`write` returned false) lines accumulate up to
 * `maxBufferedBytes`, then are dropped and counted rather than held without bound.
 */
export class AccessLog implements RequestReporter {
  private readonly stream: Writable;
  private readonly options: typeof DEFAULTS & Pick<AccessLogOptions, 'onDrop'>;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private waitingForDrain = false;
  private broken = false;
  private droppedLines = 0;
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(options: AccessLogOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.options = {
      flushIntervalMs: options.flushIntervalMs ?? DEFAULTS.flushIntervalMs,
      flushBytes: options.flushBytes ?? DEFAULTS.flushBytes,
      maxBufferedBytes: options.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes,
      maxFieldLength: options.maxFieldLength ?? DEFAULTS.maxFieldLength,
      onDrop: options.onDrop,
    };
    this.stream.on('error', () => {
      this.broken = true;
    });
  }

  /** Lines dropped so far (stream backed up beyond the bound, or failed). */
  get dropped(): number {
    return this.droppedLines;
  }

  /** Buffers the record's line; the write happens later, off the request path. */
  report(record: RequestRecord): void {
    const line = `${JSON.stringify(accessLogEntry(record, this.options.maxFieldLength))}\n`;
    if (this.broken || this.pendingBytes + line.length > this.options.maxBufferedBytes) {
      this.drop(1);
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    this.schedule();
  }

  /** Writes what is buffered now (unless the stream is backed up: then on its `drain`). */
  flush(): void {
    this.clearTimers();
    if (this.pending.length === 0 || this.waitingForDrain) return;
    if (this.broken) {
      this.drop(this.pending.length);
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    this.lastWrite = new Promise((resolve) => {
      if (!this.stream.write(chunk, () => resolve())) this.awaitDrain();
    });
  }

  /**
   * Flushes and resolves once the stream has taken every buffered line (or failed); while
   * it is backed up, that is after its `drain`.
   */
  async close(): Promise<void> {
    this.flush();
    for (;;) {
      const write = this.lastWrite;
      await write;
      if (this.broken) break;
      if (this.waitingForDrain) {
        await once(this.stream, 'drain').catch(() => undefined);
      } else if (this.pending.length > 0) {
        this.flush();
      } else if (write === this.lastWrite) {
        break;
      }
    }
    this.clearTimers();
  }

  private schedule(): void {
    if (this.waitingForDrain) return;
    if (this.pendingBytes >= this.options.flushBytes) {
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.flush();
      });
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.options.flushIntervalMs);
      this.timer.unref();
    }
  }

  private awaitDrain(): void {
    this.waitingForDrain = true;
    this.stream.once('drain', () => {
      this.waitingForDrain = false;
      if (this.pending.length > 0) this.flush();
    });
  }

  private clearTimers(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private drop(lines: number): void {
    this.droppedLines += lines;
    this.options.onDrop?.(lines);
  }
}

/** The access-log entry of `record`, with `path`, `user_agent` and `authority` cut at `maxFieldLength`. */
export function accessLogEntry(record: RequestRecord, maxFieldLength = DEFAULTS.maxFieldLength): AccessLogEntry {
  const tcp = record.protocol === 'tcp';
  const inbound = record.reporter === 'destination';
  return {
    start_time: record.startTime.toISOString(),
    method: tcp ? null : orNull(record.method),
    path: tcp ? null : cut(record.path, maxFieldLength),
    protocol: tcp ? null : orNull(record.httpVersion),
    response_code: tcp ? 0 : record.responseCode,
    response_flags: responseFlagsText(record.flags, record.responseFlagsText),
    bytes_received: record.requestBytes,
    bytes_sent: record.responseBytes,
    duration: Math.round(record.durationMs),
    user_agent: cut(record.userAgent, maxFieldLength),
    request_id: orNull(record.requestId),
    authority: cut(record.authority, maxFieldLength),
    upstream_host: orNull(record.upstreamHost),
    upstream_cluster: orNull(record.upstreamCluster),
    route_name: orNull(record.routeName),
    downstream_peer_principal: inbound ? principal(record.sourcePrincipal) : null,
    upstream_peer_principal: inbound ? null : principal(record.destinationPrincipal),
    upstream_transport_failure_reason: orNull(record.upstreamTransportFailureReason),
  };
}

function orNull(value: string | undefined): string | null {
  return value ? value : null;
}

function cut(value: string | undefined, max: number): string | null {
  if (!value) return null;
  return value.length > max ? value.slice(0, max) : value;
}

function principal(value: string): string | null {
  return value && value !== 'unknown' ? value : null;
}
