import { toStruct } from '#libs/proto';
import type { RegistrySnapshot } from '../registry/build-registry';
import { hasLabels } from '../registry/hosts';
import { endpointPort, type MeshService, type ServiceEndpoint } from '../registry/model';

type Message = Record<string, unknown>;

/** Istio's cluster name: `outbound|<port>|<subset>|<host>` (subset empty for the whole service). */
export function clusterName(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}

export interface ClusterRef {
  readonly service: MeshService;
  readonly port: number;
  readonly subset: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The service, port and subset a cluster name refers to, when they exist. */
export function parseClusterName(name: string, snapshot: RegistrySnapshot): ClusterRef | undefined {
  const [direction, portText, subset, host] = name.split('|');
  if (direction !== 'outbound' || host === undefined) return undefined;
  const service = snapshot.services.get(host);
  const port = Number(portText);
  if (!service || !service.ports.some((p) => p.number === port)) return undefined;
  if (subset === '') return { service, port, subset, labels: {} };
  const labels = snapshot.subsets.get(host)?.get(subset);
  return labels ? { service, port, subset, labels } : undefined;
}

/** Every cluster name of the registry: each service port, whole and per DestinationRule subset. */
export function allClusterNames(snapshot: RegistrySnapshot): string[] {
  const names: string[] = [];
  for (const service of snapshot.services.values()) {
    const subsets = [...(snapshot.subsets.get(service.host)?.keys() ?? [])];
    for (const port of service.ports) {
      for (const subset of ['', ...subsets]) names.push(clusterName(port.number, subset, service.host));
    }
  }
  return names;
}

/** An EDS cluster fed over ADS, round robin (what proxyless gRPC supports). */
export function cluster(name: string): Message {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
    connect_timeout: { seconds: 10 },
    lb_policy: 'ROUND_ROBIN',
  };
}

/**
 * The ClusterLoadAssignment of a cluster: the healthy endpoints of the service with the
 * subset's labels, on the port each serves the service port on, in one locality (no
 * duplicates: proxyless gRPC rejects an assignment listing an address twice).
 *
 * For a sidecar, an endpoint with a sidecar (registered over xDS, or labelled
 * `security.istio.io/tlsMode: istio`) carries Istio's `envoy.transport_socket_match` metadata
 * `tlsMode: istio`, which the cluster's transport_socket_matches pick mTLS for.
 */
export function loadAssignment(name: string, ref: ClusterRef | undefined, sidecar = false): Message {
  const servicePort = ref?.service.ports.find((p) => p.number === ref.port);
  const seen = new Set<string>();
  const lbEndpoints: Message[] = [];
  for (const endpoint of ref && servicePort ? ref.service.endpoints : []) {
    if (!endpoint.healthy || !hasLabels(ref!.labels, endpoint.labels)) continue;
    const port = endpointPort(endpoint, servicePort!);
    const key = `${endpoint.address}:${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const lbEndpoint: Message = {
      endpoint: { address: { socket_address: { address: endpoint.address, port_value: port } } },
      health_status: 'HEALTHY',
      load_balancing_weight: { value: 1 },
    };
    if (sidecar && hasSidecar(endpoint)) {
      lbEndpoint.metadata = { filter_metadata: { 'envoy.transport_socket_match': toStruct({ tlsMode: 'istio' }) } };
    }
    lbEndpoints.push(lbEndpoint);
  }
  return {
    cluster_name: name,
    endpoints:
      lbEndpoints.length > 0
        ? [{ locality: {}, lb_endpoints: lbEndpoints, load_balancing_weight: { value: lbEndpoints.length } }]
        : [],
  };
}

/** Whether an endpoint accepts Istio mTLS: a proxy that registered it, or Istio's `tlsMode: istio` label. */
export function hasSidecar(endpoint: ServiceEndpoint): boolean {
  return endpoint.source.startsWith('xds ') || endpoint.labels['security.istio.io/tlsMode'] === 'istio';
}
