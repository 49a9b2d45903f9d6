import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { PilotMetrics } from '../metrics/pilot-metrics';
import { buildRegistry, type RegistrySnapshot, shareUnchanged } from './build-registry';
import { ConfigStore } from './config-store';
import { WorkloadRegistrations } from './workload-registrations';

/**
 * The current service registry, rebuilt whenever the config from Galley or a workload
 * registration changes; listeners (the xDS push) hear about every rebuild.
 */
@Injectable()
export class ServiceRegistry implements OnModuleInit {
  private current: RegistrySnapshot;
  private readonly listeners = new Set<() => void>();

  constructor(
    @Inject(ConfigStore) private readonly store: ConfigStore,
    @Inject(WorkloadRegistrations) private readonly workloads: WorkloadRegistrations,
    @Inject(PilotMetrics) private readonly metrics: PilotMetrics,
  ) {
    this.current = this.build();
  }

  onModuleInit(): void {
    this.store.onChange(() => this.rebuild());
    this.workloads.onChange(() => this.rebuild());
  }

  get snapshot(): RegistrySnapshot {
    return this.current;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private rebuild(): void {
    this.current = this.build();
    for (const listener of this.listeners) listener();
  }

  /** A new snapshot; the parts a change left as they were are the previous snapshot's objects. */
  private build(): RegistrySnapshot {
    // `current` is still unset during the constructor's first build.
    const previous = this.current as RegistrySnapshot | undefined;
    const snapshot = shareUnchanged(
      previous,
      buildRegistry({
        serviceEntries: this.store.list('ServiceEntry'),
        workloadEntries: this.store.list('WorkloadEntry'),
        virtualServices: this.store.list('VirtualService'),
        destinationRules: this.store.list('DestinationRule'),
        peerAuthentications: this.store.list('PeerAuthentication'),
        workloads: this.workloads.list(),
      }),
    );
    this.metrics.registrySize(
      snapshot.services.size,
      [...snapshot.services.values()].reduce((sum, s) => sum + s.endpoints.filter((e) => e.healthy).length, 0),
    );
    return snapshot;
  }
}
