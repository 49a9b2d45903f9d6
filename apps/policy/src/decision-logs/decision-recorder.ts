import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import type { Decision } from '#libs/policy-runtime';
import type { PolicyConfig } from '../config';
import { DecisionLogMetrics } from './decision-log.metrics';
import { DecisionLogStore } from './decision-log.store';
import { type DecisionRecord, requestColumns } from './decision-record';
import { DECISION_MASKER, type InputMasker } from './masking.provider';

/** A decision this service made, as its caller knows it. */
export interface MadeDecision {
  /** The input document evaluated (masked before it is kept). */
  input: unknown;
  policy: string;
  /** The revision that decided; null when none could (no policy, none active). */
  revision: number | null;
  decision: Decision;
  /** The entrypoint's value; undefined when the decision was undefined. */
  result?: unknown;
  durationMicros?: number;
  /** Which API asked: `ext_authz` or `authz-check`. */
  requestedBy: string;
}

/** Most records one flush writes; the rest wait for the next tick. */
const FLUSH_BATCH = 5_000;
const MAX_BACKOFF_MS = 30_000;

/**
 * Logs this service's own decisions without ever blocking or failing them: `record` masks
 * and appends to a bounded buffer (POLICY_DECISION_LOG_BUFFER; when full the decision is
 * dropped and counted), a timer writes the buffer every POLICY_DECISION_LOG_FLUSH, and a
 * failed write puts the batch back and retries with exponential backoff.
 */
@Injectable()
export class DecisionRecorder implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('DecisionRecorder');
  private buffer: DecisionRecord[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private failures = 0;
  private retryAt = 0;

  constructor(
    @Inject(DecisionLogStore) private readonly store: DecisionLogStore,
    @Inject(DECISION_MASKER) private readonly masker: InputMasker,
    @Inject(DecisionLogMetrics) private readonly metrics: DecisionLogMetrics,
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    metrics.watchBuffer(() => this.buffer.length);
  }

  onApplicationBootstrap(): void {
    if (this.config.decisionLogBuffer === 0) return;
    this.timer = setInterval(() => void this.flush(), this.config.decisionLogFlush);
    this.timer.unref();
  }

  /** Stops the timer and writes what is buffered, once. */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    this.retryAt = 0;
    await this.flush();
  }

  /** Counts the decision and queues it for the log. Never throws. */
  record(made: MadeDecision): void {
    try {
      this.metrics.decision(made.decision.allowed, made.policy);
      if (this.config.decisionLogBuffer === 0) return;
      if (this.buffer.length >= this.config.decisionLogBuffer) return this.metrics.droppedLogs('buffer_full');
      this.buffer.push(this.toRecord(made));
    } catch (error) {
      this.logger.warn({ msg: 'could not log a decision', reason: String(error) });
    }
  }

  /** Writes up to FLUSH_BATCH buffered decisions (no-op while a write runs or during backoff). */
  flush(): Promise<void> {
    if (this.flushing || this.buffer.length === 0 || this.clock.now().getTime() < this.retryAt) {
      return this.flushing ?? Promise.resolve();
    }
    const batch = this.buffer.splice(0, FLUSH_BATCH);
    this.flushing = this.write(batch).finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async write(batch: DecisionRecord[]): Promise<void> {
    try {
      this.metrics.storedLogs('recorded', await this.store.insert(batch));
      this.failures = 0;
      this.retryAt = 0;
    } catch (error) {
      this.failures++;
      const delay = Math.min(MAX_BACKOFF_MS, this.config.decisionLogFlush * 2 ** (this.failures - 1));
      this.retryAt = this.clock.now().getTime() + delay;
      const room = Math.max(0, this.config.decisionLogBuffer - this.buffer.length);
      this.buffer = [...batch.slice(0, room), ...this.buffer];
      this.metrics.droppedLogs('buffer_full', batch.length - room);
      this.metrics.flushFailed();
      this.logger.warn({
        msg: 'writing decision logs failed; retrying',
        decisions: batch.length,
        retryInMs: delay,
        reason: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private toRecord(made: MadeDecision): DecisionRecord {
    const { decision } = made;
    return {
      decisionId: randomUUID(),
      decidedAt: this.clock.now(),
      ...requestColumns(made.input),
      allowed: decision.allowed,
      httpStatus: decision.httpStatus ?? null,
      policy: made.policy,
      revision: made.revision,
      decision: made.result === undefined ? null : this.masker.maskResult(made.result),
      input: this.masker.mask(made.input),
      reason: decision.error?.message.slice(0, 1024) ?? null,
      reporter: 'policy-service',
      requestedBy: made.requestedBy,
      evalDurationMicros: made.durationMicros ?? null,
      metrics: null,
    };
  }
}
