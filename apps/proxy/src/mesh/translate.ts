/**
 * Envoy xDS v3 resources → the proxy's `MeshConfig`. Pure functions over decoded messages with
 * proto field names (proto-loader's form, or Envoy's JSON/YAML form; `Any` unpacked as
 * `{"@type": ..., ...fields}`). Invalid or unsupported content throws `MeshConfigError` naming
 * the resource and field path, so that the xDS client can NACK it.
 */
import type { Endpoint, InboundPolicy, MeshConfig, OutboundListener, RouteConfiguration } from './model';
import type { TranslatedCluster } from './translate-cluster';
import type { TranslatedListener } from './translate-listener';

export {
  CLUSTER_DEFAULTS,
  translateCluster,
  translateClusterLoadAssignment,
  type TranslatedAssignment,
  type TranslatedCluster,
} from './translate-cluster';
export { translateListener, VIRTUAL_INBOUND, type TranslatedListener } from './translate-listener';
export { DEFAULT_ROUTE_TIMEOUT_MS, translateRouteConfiguration } from './translate-route';

/** Translated resources of every type, as one consistent set. */
export interface MeshConfigParts {
  readonly versions: MeshConfig['versions'];
  readonly listeners: readonly TranslatedListener[];
  /** RDS route configurations (inline ones come with their listener). */
  readonly routes: readonly RouteConfiguration[];
  readonly clusters: readonly TranslatedCluster[];
  /** EDS endpoints by the name they were requested by (a cluster's `edsServiceName`). */
  readonly assignments: ReadonlyMap<string, readonly Endpoint[]>;
  readonly raw: MeshConfig['raw'];
}

const DEFAULT_INBOUND: InboundPolicy = { defaultMode: 'PERMISSIVE', portModes: new Map() };

/**
 * Puts translated resources together: listeners by name, route configurations by name (RDS and
 * inline), clusters by name with their endpoints (an EDS cluster without an assignment has
 * none), and `mtls` on the endpoints that reach their cluster over TLS. No `virtualInbound` means
 * PERMISSIVE everywhere.
 */
export function assembleMeshConfig(parts: MeshConfigParts): MeshConfig {
  const listeners = new Map<string, OutboundListener>();
  const routes = new Map<string, RouteConfiguration>();
  let inbound = DEFAULT_INBOUND;
  for (const route of parts.routes) routes.set(route.name, route);
  for (const translated of parts.listeners) {
    if (translated.kind === 'inbound') {
      inbound = translated.policy;
      continue;
    }
    listeners.set(translated.listener.name, translated.listener);
    if (translated.routeConfig) routes.set(translated.routeConfig.name, translated.routeConfig);
  }
  const clusters = new Map<string, TranslatedCluster['cluster']>();
  const endpoints = new Map<string, readonly Endpoint[]>();
  for (const translated of parts.clusters) {
    clusters.set(translated.cluster.name, translated.cluster);
    const found =
      translated.edsServiceName !== undefined ? parts.assignments.get(translated.edsServiceName) : translated.endpoints;
    if (found) endpoints.set(translated.cluster.name, withTls(found, translated));
  }
  return { versions: parts.versions, listeners, routes, clusters, endpoints, inbound, raw: parts.raw };
}

function withTls(endpoints: readonly Endpoint[], translated: TranslatedCluster): readonly Endpoint[] {
  const tls = translated.cluster.tls !== undefined;
  return endpoints.map((endpoint) => {
    const mtls = tls && (translated.tlsForEveryEndpoint || endpoint.mtls);
    return mtls === endpoint.mtls ? endpoint : { ...endpoint, mtls };
  });
}
