import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import type { PolicyConfig } from '../config';
import { DecisionLogMetrics } from './decision-log.metrics';
import { DecisionLogStore } from './decision-log.store';

/** Deletes decision logs older than POLICY_DECISION_LOG_RETENTION every POLICY_DECISION_LOG_PRUNE_INTERVAL. */
@Injectable()
export class DecisionLogPruner implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('DecisionLogPruner');
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    @Inject(DecisionLogStore) private readonly store: DecisionLogStore,
    @Inject(DecisionLogMetrics) private readonly metrics: DecisionLogMetrics,
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.prune(), this.config.decisionLogPruneInterval);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Prunes once (skipped while a previous run is still going); failures are logged and retried next time. */
  async prune(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const cutoff = new Date(this.clock.now().getTime() - this.config.decisionLogRetention);
      const removed = await this.store.prune(cutoff);
      this.metrics.prunedLogs(removed);
      if (removed > 0) this.logger.log({ msg: 'pruned decision logs', removed, before: cutoff.toISOString() });
    } catch (error) {
      this.logger.warn({ msg: 'pruning decision logs failed; retrying at the next interval', reason: String(error) });
    } finally {
      this.running = false;
    }
  }
}
