import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import type { GalleyConfig } from '../config';

/**
 * Prunes the change log: changes older than GALLEY_HISTORY_RETENTION go, except the latest
 * version of every live resource (so a relist plus a Watch always has what it needs). The
 * compaction point moves to the newest pruned version.
 */
@Injectable()
export class HistoryPruner implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('HistoryPruner');
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: GalleyConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.pruneLogged(), this.config.historyPruneInterval);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Prunes once; returns how many changes were removed and the new compaction point. */
  async prune(): Promise<{ removed: number; compacted: number }> {
    const cutoff = new Date(this.clock.now().getTime() - this.config.historyRetention);
    return this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT 1 FROM galley_state WHERE id = 1 FOR UPDATE`);
      const [result] = await manager.query(
        `WITH pruned AS (
           DELETE FROM galley_changes c
            WHERE c.changed_at < $1
              AND NOT EXISTS (SELECT 1 FROM galley_resources r WHERE r.resource_version = c.version)
           RETURNING c.version)
         SELECT count(*) AS removed, max(version) AS newest FROM pruned`,
        [cutoff],
      );
      const [state] = await manager.query(
        `UPDATE galley_state SET compacted_version = GREATEST(compacted_version, COALESCE($1::bigint, 0))
          WHERE id = 1 RETURNING compacted_version`,
        [result.newest],
      );
      return { removed: Number(result.removed), compacted: Number(state.compacted_version) };
    });
  }

  private async pruneLogged(): Promise<void> {
    try {
      const { removed, compacted } = await this.prune();
      if (removed > 0) this.logger.log({ msg: 'pruned change history', removed, compactedVersion: compacted });
    } catch (error) {
      this.logger.warn({ msg: 'history pruning failed; retrying at the next interval', reason: String(error) });
    }
  }
}
