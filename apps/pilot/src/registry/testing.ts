import { Registry } from 'prom-client';
import { SYSTEM_CLOCK } from '#libs/host';
import type { PilotConfig } from '../config';
import { PilotMetrics } from '../metrics/pilot-metrics';
import type { ProxyNode } from '../xds/node';
import type { ConfigResource, WatchedKind } from './config-store';
import { ConfigStore } from './config-store';
import { ServiceRegistry } from './service-registry';
import { WorkloadRegistrations } from './workload-registrations';

/** A resource in namespace `default` at version 1, as Galley's Watch delivers one (for tests and benches). */
export function configResource(kind: WatchedKind, name: string, spec: Record<string, unknown>): ConfigResource {
  return { kind, namespace: 'default', name, resourceVersion: 1, spec, labels: {} };
}

/** A proxyless xDS client: service account `c` in namespace `default` at 10.0.0.9, with Istio's node id. */
export const PROXYLESS_NODE: ProxyNode = {
  id: 'sidecar~10.0.0.9~c.default~default.svc.cluster.local',
  type: 'sidecar',
  namespace: 'default',
  serviceAccount: 'c',
  labels: {},
  ips: ['10.0.0.9'],
};

/** Pilot's registry in process, without Galley: `resources` are the config at version 1 (benches). */
export function inProcessRegistry(resources: ConfigResource[]) {
  const settings = { debounce: 1, disconnectGrace: 10_000 } as PilotConfig;
  const metrics = new PilotMetrics(new Registry());
  const store = new ConfigStore();
  const workloads = new WorkloadRegistrations(settings, SYSTEM_CLOCK);
  const registry = new ServiceRegistry(store, workloads, metrics);
  registry.onModuleInit();
  store.replace(resources, 1);
  return { settings, metrics, store, workloads, registry };
}
