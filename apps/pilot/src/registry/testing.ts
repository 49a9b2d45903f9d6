import type { ProxyNode } from '../xds/node';
import type { ConfigResource, WatchedKind } from './config-store';

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
