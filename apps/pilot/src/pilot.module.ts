import { Module } from '@nestjs/common';
import { PilotMetrics } from './metrics/pilot-metrics';
import { ConfigStore } from './registry/config-store';
import { GalleyWatcher } from './registry/galley-watcher';
import { ServiceRegistry } from './registry/service-registry';
import { WorkloadRegistrations } from './registry/workload-registrations';
import { StatusController } from './status/status.controller';
import { AdsGrpc } from './xds/ads.grpc';
import { DiscoveryServer } from './xds/discovery-server';

/** Service discovery (Galley config + registering workloads) and per-proxy configuration over xDS. */
@Module({
  controllers: [AdsGrpc, StatusController],
  providers: [PilotMetrics, ConfigStore, GalleyWatcher, WorkloadRegistrations, ServiceRegistry, DiscoveryServer],
})
export class PilotModule {}
