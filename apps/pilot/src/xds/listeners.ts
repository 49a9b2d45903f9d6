import { findService, type RegistrySnapshot } from '../registry/build-registry';
import type { MeshService } from '../registry/model';
import { FAULT_FILTER } from './sidecar-routes';
import { HCM_TYPE_URL, type Pack, ROUTER_TYPE_URL, SIDECAR_TYPE_URLS } from './types';

type Message = Record<string, unknown>;

/** What a listener name (`xds:///<name>`: `host:port`, or `host` for a one-port service) refers to. */
export interface ListenerRef {
  readonly service: MeshService;
  readonly port: number;
}

export function parseListenerName(
  name: string,
  snapshot: RegistrySnapshot,
  namespace: string,
): ListenerRef | undefined {
  const match = /^(.*):(\d+)$/.exec(name);
  const host = match ? match[1] : name;
  const service = findService(snapshot, host, namespace);
  if (!service) return undefined;
  const port = match ? Number(match[2]) : service.ports.length === 1 ? service.ports[0].number : undefined;
  return port !== undefined && service.ports.some((p) => p.number === port) ? { service, port } : undefined;
}

/** Every listener name of the registry (`host:port`), for a wildcard subscription. */
export function allListenerNames(snapshot: RegistrySnapshot): string[] {
  return [...snapshot.services.values()].flatMap((service) =>
    service.ports.map((port) => `${service.host}:${port.number}`),
  );
}

/**
 * The API listener a proxyless gRPC client resolves `xds:///<name>` with: an HttpConnectionManager
 * whose routes come over ADS (RDS, same name) and whose only filter is the router. A sidecar's
 * has Envoy's fault filter before the router (routes configure it per route).
 */
export function apiListener(name: string, pack: Pack, sidecar = false): Message {
  const router = { name: 'envoy.filters.http.router', typed_config: pack(ROUTER_TYPE_URL, {}) };
  const manager = pack(HCM_TYPE_URL, {
    stat_prefix: name,
    rds: { route_config_name: name, config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: sidecar
      ? [{ name: FAULT_FILTER, typed_config: pack(SIDECAR_TYPE_URLS.FAULT, {}) }, router]
      : [router],
  });
  return { name, api_listener: { api_listener: manager } };
}
