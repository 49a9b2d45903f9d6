import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { AnalysisController } from './api/analysis.controller';
import { ResourcesController } from './api/resources.controller';
import { YamlBodyMiddleware } from './api/yaml-body.middleware';
import { ApplyService } from './apply/apply.service';
import { DirectorySource } from './directory/directory-source';
import { HistoryPruner } from './store/history-pruner';
import { ResourceReader } from './store/resource.reader';
import { ResourceStore } from './store/resource.store';
import { ChangeFeed } from './watch/change-feed';
import { ConfigWatchGrpc } from './watch/config-watch.grpc';
import { WatchService } from './watch/watch.service';

/** Config ingestion: Istio-shaped resources, validated, versioned and streamed. */
@Module({
  controllers: [ResourcesController, AnalysisController, ConfigWatchGrpc],
  providers: [
    ResourceStore,
    ResourceReader,
    ApplyService,
    HistoryPruner,
    ChangeFeed,
    WatchService,
    DirectorySource,
    YamlBodyMiddleware,
  ],
})
export class GalleyModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(YamlBodyMiddleware).forRoutes(ResourcesController);
  }
}
