import { randomUUID } from 'node:crypto';
import type { Logger } from '#libs/logging';
import { maskSecretHeaders } from '#libs/policy-runtime';

/** Entries per batch by default (the service takes up to 1000). */
const DEFAULT_BATCH_SIZE = 500;
/** A batch is cut once its body reaches about this size (the service takes JSON bodies up to 5 MB). */
const MAX_BATCH_BYTES = 1024 * 1024;
/** Entries serialised between two turns of the event loop. */
const SLICE = 50;

/** One entry of `POST /v1/decision-logs`: OPA's decision log fields plus Bowline's. */
export interface DecisionLogEntry {
  decision_id: string;
  timestamp: string;
  path: string;
  input: Record<string, unknown>;
  result?: unknown;
  allowed: boolean;
  http_status?: number;
  policy?: string;
  revision?: number;
  reason?: string;
  reporter: string;
  metrics?: Record<string, number>;
}

/**
 * A decision as the authorizer records it on the request path: the log entry, whose input
 * may still be a function that builds it. The shipper calls it (once) when it ships the entry,
 * so requests decided without the opa-envoy input document do not pay for it. Nor do they pay
 * for the id and the timestamp's text: `decision_id` is assigned when the entry is first
 * serialised (and kept, so a retried batch resends the same ids), `timestamp` is made from `time`.
 * Fields left undefined are left out of the entry.
 */
export interface DecisionRecord extends Omit<DecisionLogEntry, 'input' | 'decision_id' | 'timestamp'> {
  decision_id?: string;
  /** The entry's `timestamp`; when absent, made from `time`. */
  timestamp?: string;
  /** When the decision was made, in milliseconds since the epoch. */
  time?: number;
  input: Record<string, unknown> | (() => Record<string, unknown>);
}

/** The entry `record` describes: its input built (when still a function) and masked (maskInput). */
export function toLogEntry(record: DecisionRecord): DecisionLogEntry {
  record.decision_id ??= randomUUID();
  const made: Partial<DecisionLogEntry> = {
    decision_id: record.decision_id,
    timestamp: record.timestamp ?? new Date(record.time ?? Date.now()).toISOString(),
    input: maskInput(typeof record.input === 'function' ? record.input() : record.input),
  };
  // The record's fields in its order (those three with their made values), then the timestamp
  // when the record had none: what spreading the record would give, built without `delete`
  // (which would leave the entry slow to serialise), undefined fields left out.
  const entry: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    const value = Object.hasOwn(made, key) ? made[key as keyof DecisionLogEntry] : record[key as keyof DecisionRecord];
    if (key !== 'time' && value !== undefined) entry[key] = value;
  }
  entry.timestamp ??= made.timestamp;
  return entry as unknown as DecisionLogEntry;
}

/** A copy of `input` with the values of the secret headers (libs/policy-runtime SECRET_HEADERS) in `attributes.request.http.headers` masked. */
export function maskInput(input: Record<string, unknown>): Record<string, unknown> {
  const attributes = input.attributes as Record<string, unknown> | undefined;
  const request = attributes?.request as Record<string, unknown> | undefined;
  const http = request?.http as Record<string, unknown> | undefined;
  const headers = http?.headers as Record<string, unknown> | undefined;
  if (!attributes || !request || !http || !headers) return input;
  const masked = maskSecretHeaders(headers);
  return { ...input, attributes: { ...attributes, request: { ...request, http: { ...http, headers: masked } } } };
}

export interface DecisionLogShipperOptions {
  readonly baseUrl: string;
  readonly token?: string;
  readonly logger: Logger;
  /** Flush at least this often (default 1 s)... */
  readonly flushIntervalMs?: number;
  /**
   * ...or as soon as this many entries wait (default 500; the service takes up to 1000 per
   * batch). A batch is also cut at about 1 MiB of JSON.
   */
  readonly batchSize?: number;
  /** Entries held while the service is away (default 10 000); beyond it new entries are dropped and counted. */
  readonly maxBuffered?: number;
  readonly fetch?: typeof fetch;
}

/**
 * Batches decisions to the policy service (`POST /v1/decision-logs`). The buffer is bounded:
 * when full, new entries are dropped and counted (never blocking a request). A failed batch
 * goes back to the front of the buffer and is retried at the next flush; a batch the service
 * refuses as invalid (400) is dropped and counted, since retrying it cannot succeed.
 */
export class DecisionLogShipper {
  private buffer: DecisionRecord[] = [];
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Immediate;
  private flushing?: Promise<void>;
  private sent = 0;
  private dropped = 0;
  private failures = 0;
  private lastError: string | null = null;

  constructor(private readonly options: DecisionLogShipperOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 1_000);
    this.timer.unref();
  }

  /** Stops the timer and makes a last attempt to send what is buffered. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearImmediate(this.soon);
    this.timer = undefined;
    this.soon = undefined;
    await this.flush();
  }

  /**
   * Queues one decision. Never throws, never waits, and does no work for the entry: its input is
   * built and masked when its batch is sent (a full batch is sent after the current I/O callback).
   */
  record(entry: DecisionRecord): void {
    if (this.buffer.length >= (this.options.maxBuffered ?? 10_000)) {
      this.dropped += 1;
      return;
    }
    this.buffer.push(entry);
    if (this.buffer.length >= (this.options.batchSize ?? DEFAULT_BATCH_SIZE) && !this.soon) {
      this.soon = setImmediate(() => {
        this.soon = undefined;
        void this.flush();
      });
    }
  }

  status() {
    return {
      buffered: this.buffer.length,
      sent: this.sent,
      dropped: this.dropped,
      consecutiveFailures: this.failures,
      lastError: this.lastError,
    };
  }

  /** Sends buffered entries in batches; one flush at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Sends batches until the buffer is empty or one fails; each entry is serialised once, here. */
  private async drain(): Promise<void> {
    const max = Math.min(this.options.batchSize ?? DEFAULT_BATCH_SIZE, 1000);
    while (this.buffer.length > 0) {
      const parts: string[] = [];
      let bytes = 0;
      while (parts.length < max && parts.length < this.buffer.length && bytes < MAX_BATCH_BYTES) {
        // Requests are served between slices: building inputs is never one long stall.
        if (parts.length > 0 && parts.length % SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
        const json = JSON.stringify(toLogEntry(this.buffer[parts.length]));
        parts.push(json);
        bytes += json.length;
      }
      const batch = this.buffer.splice(0, parts.length);
      const ok = await this.send(batch, `{"decisions":[${parts.join(',')}]}`);
      if (!ok) return;
    }
  }

  /** Posts one batch (`body` is its JSON); false when it should be retried later (it is put back first). */
  private async send(batch: DecisionRecord[], body: string): Promise<boolean> {
    const { baseUrl, token } = this.options;
    try {
      const response = await (this.options.fetch ?? fetch)(new URL('/v1/decision-logs', baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      if (response.ok) {
        this.sent += batch.length;
        this.failures = 0;
        this.lastError = null;
        return true;
      }
      const detail = (await response.text().catch(() => '')).slice(0, 300);
      if (response.status === 400) {
        this.dropped += batch.length;
        this.options.logger.warn({ status: 400, detail, entries: batch.length }, 'decision log batch refused; dropped');
        return true;
      }
      throw new Error(`policy service answered ${response.status}: ${detail}`);
    } catch (error) {
      this.failures += 1;
      this.lastError = error instanceof Error ? error.message : String(error);
      const room = (this.options.maxBuffered ?? 10_000) - this.buffer.length;
      const kept = batch.slice(0, Math.max(0, room));
      this.dropped += batch.length - kept.length;
      this.buffer.unshift(...kept);
      if (this.failures === 1 || this.failures % 30 === 0) {
        this.options.logger.warn(
          { failures: this.failures, buffered: this.buffer.length, reason: this.lastError },
          'cannot send decision logs; keeping them for the next flush',
        );
      }
      return false;
    }
  }
}
