import { Inject, Injectable } from '@nestjs/common';
import type { Counter, Registry } from 'prom-client';
import { counter, gauge, METRICS_REGISTRY } from '#libs/metrics';

/** Where stored decisions came from: batches posted by proxies, or this service's own decisions. */
export type DecisionSource = 'ingested' | 'recorded';

/**
 * The policy service's decision metrics: decisions it made by result and policy, decision
 * logs stored, dropped (buffer full) and pruned, failed flushes, and the buffer depth.
 */
@Injectable()
export class DecisionLogMetrics {
  private readonly decisions: Counter<'result' | 'policy'>;
  private readonly stored: Counter<'source'>;
  private readonly dropped: Counter<'reason'>;
  private readonly flushFailures: Counter;
  private readonly pruned: Counter;
  private bufferDepth: () => number = () => 0;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.decisions = counter(registry, {
      name: 'bowline_policy_decisions_total',
      help: 'Decisions made by the policy service (ext_authz Check, /v1/authz/check), by result (allow, deny) and policy.',
      labelNames: ['result', 'policy'],
    });
    this.stored = counter(registry, {
      name: 'bowline_policy_decision_logs_stored_total',
      help: 'Decision logs written to PostgreSQL, by source (ingested from proxies, recorded by this service).',
      labelNames: ['source'],
    });
    this.dropped = counter(registry, {
      name: 'bowline_policy_decision_logs_dropped_total',
      help: 'Decisions of this service not logged, by reason (buffer_full: POLICY_DECISION_LOG_BUFFER was full).',
      labelNames: ['reason'],
    });
    this.flushFailures = counter(registry, {
      name: 'bowline_policy_decision_log_flush_failures_total',
      help: 'Failed writes of buffered decision logs (each is retried with backoff).',
    });
    this.pruned = counter(registry, {
      name: 'bowline_policy_decision_logs_pruned_total',
      help: 'Decision logs deleted after POLICY_DECISION_LOG_RETENTION.',
    });
    const depth = () => this.bufferDepth();
    gauge(registry, {
      name: 'bowline_policy_decision_log_buffer_entries',
      help: 'Decisions of this service waiting in memory to be written.',
      collect() {
        this.set(depth());
      },
    });
  }

  /** The buffer depth gauge reads `depth` at each scrape. */
  watchBuffer(depth: () => number): void {
    this.bufferDepth = depth;
  }

  decision(allowed: boolean, policy: string): void {
    this.decisions.inc({ result: allowed ? 'allow' : 'deny', policy });
  }

  storedLogs(source: DecisionSource, count: number): void {
    if (count > 0) this.stored.inc({ source }, count);
  }

  droppedLogs(reason: 'buffer_full', count = 1): void {
    if (count > 0) this.dropped.inc({ reason }, count);
  }

  flushFailed(): void {
    this.flushFailures.inc();
  }

  prunedLogs(count: number): void {
    if (count > 0) this.pruned.inc(count);
  }
}
