import { Module } from '@nestjs/common';
import { DecisionLogMetrics } from './decision-log.metrics';
import { DecisionLogPruner } from './decision-log-pruner';
import { DecisionLogStore } from './decision-log.store';
import { DecisionLogsController } from './decision-logs.controller';
import { DecisionLogsService } from './decision-logs.service';
import { DecisionRecorder } from './decision-recorder';
import { maskerProvider } from './masking.provider';
import { ReplayService } from './replay.service';

/**
 * Decision logs: ingestion from proxies, this service's own decisions (DecisionRecorder,
 * exported), queries, retention, and replay (ReplayService, exported for ReplayController,
 * which PolicyModule registers ahead of PoliciesController).
 */
@Module({
  controllers: [DecisionLogsController],
  providers: [
    DecisionLogStore,
    DecisionLogMetrics,
    DecisionLogsService,
    DecisionRecorder,
    DecisionLogPruner,
    ReplayService,
    maskerProvider,
  ],
  exports: [DecisionRecorder, ReplayService],
})
export class DecisionLogsModule {}
