import { Controller, Get, Inject, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { PilotError } from '../errors';
import { ConfigStore } from '../registry/config-store';
import { GalleyWatcher } from '../registry/galley-watcher';
import { ServiceRegistry } from '../registry/service-registry';
import { WorkloadRegistrations } from '../registry/workload-registrations';
import { DiscoveryServer } from '../xds/discovery-server';
import { proxyStatus } from './proxy-status';

/** Pilot's read-only admin views: connected proxies and their sync state, and the service registry. */
@ApiTags('discovery')
@ApiBearerAuth()
@Controller('v1')
@RequireRole('viewer')
export class StatusController {
  constructor(
    @Inject(DiscoveryServer) private readonly server: DiscoveryServer,
    @Inject(ServiceRegistry) private readonly registry: ServiceRegistry,
    @Inject(WorkloadRegistrations) private readonly workloads: WorkloadRegistrations,
    @Inject(ConfigStore) private readonly store: ConfigStore,
    @Inject(GalleyWatcher) private readonly galley: GalleyWatcher,
  ) {}

  @Get('proxy-status')
  @ApiOperation({ summary: 'Every connected proxy: node id, identity, per xDS type SYNCED / STALE / NACK / NOT_SENT' })
  proxyStatus() {
    return {
      configVersion: this.store.version,
      galley: { connected: this.galley.connected, synced: this.store.synced },
      proxies: this.server
        .list()
        .map(proxyStatus)
        .filter((p) => p !== undefined),
    };
  }

  @Get('proxy-status/:nodeId')
  @ApiOperation({ summary: 'The streams of one proxy by node id' })
  oneProxy(@Param('nodeId') nodeId: string) {
    const proxies = this.server
      .list()
      .filter((c) => c.node?.id === nodeId)
      .map(proxyStatus);
    if (proxies.length === 0) throw new PilotError('PROXY_NOT_FOUND', `no proxy with node id ${nodeId} is connected`);
    return { proxies };
  }

  @Get('registry')
  @ApiOperation({
    summary: 'The service registry: services, ports and endpoints (with health), and registered workloads',
  })
  serviceRegistry() {
    const snapshot = this.registry.snapshot;
    return {
      configVersion: this.store.version,
      services: [...snapshot.services.values()].map((service) => ({
        ...service,
        subsets: Object.fromEntries(snapshot.subsets.get(service.host) ?? []),
      })),
      workloads: this.workloads.list().map((w) => ({ ...w, ports: Object.fromEntries(w.ports) })),
    };
  }
}
