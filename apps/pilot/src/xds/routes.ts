import { findService, type RegistrySnapshot } from '../registry/build-registry';
import { resolveHost } from '../registry/hosts';
import type { MeshService } from '../registry/model';
import { clusterName } from './clusters';
import {
  faultPerFilterConfig,
  sidecarActionFields,
  sidecarMatchFields,
  type SidecarMatchFields,
  type SidecarRouteFields,
  type StringMatch,
} from './sidecar-routes';
import type { Pack } from './types';

type Message = Record<string, unknown>;

interface HttpMatch extends SidecarMatchFields {
  uri?: StringMatch;
  headers?: Record<string, StringMatch>;
  port?: number;
  ignoreUriCase?: boolean;
}
interface RouteDestination {
  destination: { host: string; subset?: string; port?: { number?: number } };
  weight?: number;
}
interface HttpRoute extends SidecarRouteFields {
  name?: string;
  match?: HttpMatch[];
  route?: RouteDestination[];
}

/** How a route configuration is written for a Bowline sidecar (unset: for a proxyless gRPC client). */
export interface SidecarRouteOptions {
  readonly pack: Pack;
}

/**
 * The RouteConfiguration for a listener `host:port`: one virtual host answering the name the
 * client used and the service's full name, with the routes of the VirtualServices for the host
 * (in order; weights as weighted_clusters; subsets as `outbound|port|subset|host` clusters), or
 * one catch-all route to the whole service when no VirtualService applies.
 *
 * For a sidecar, routes also carry Istio's full match, timeout, retry policy, rewrites and fault
 * injection (see sidecar-routes); a proxyless client gets only what it supports.
 */
export function routeConfiguration(
  name: string,
  service: MeshService,
  port: number,
  snapshot: RegistrySnapshot,
  sidecar?: SidecarRouteOptions,
): Message {
  const routes: Message[] = [];
  for (const vs of snapshot.virtualServices.get(service.host) ?? []) {
    const http = ((vs.spec as { http?: HttpRoute[] }).http ?? []) as HttpRoute[];
    http.forEach((route, index) => {
      const action = routeAction(route.route ?? [], vs.namespace, service, port, snapshot);
      if (!action) return;
      for (const match of route.match?.length ? route.match : [undefined]) {
        if (match?.port !== undefined && match.port !== port) continue;
        const routeName = route.name ?? `${vs.namespace}/${vs.name}[${index}]`;
        routes.push(
          sidecar
            ? sidecarRoute(routeName, match, action, route, sidecar.pack)
            : { name: routeName, match: routeMatch(match), route: action },
        );
      }
    });
  }
  if (routes.length === 0) {
    const route = { cluster: clusterName(port, '', service.host) };
    routes.push(
      sidecar
        ? sidecarRoute('default', undefined, route, undefined, sidecar.pack)
        : { name: 'default', match: { prefix: '/' }, route },
    );
  }
  const full = `${service.host}:${port}`;
  return {
    name,
    virtual_hosts: [{ name: full, domains: [...new Set([name, full, service.host])], routes }],
  };
}

/** A sidecar's route: Istio's full match, and the action's timeout, retries and rewrites; faults per filter. */
function sidecarRoute(
  name: string,
  match: HttpMatch | undefined,
  action: Message,
  route: HttpRoute | undefined,
  pack: Pack,
): Message {
  const out: Message = {
    name,
    match: { ...pathMatch(match), ...sidecarMatchFields(match) },
    route: { ...action, ...sidecarActionFields(route, pack) },
  };
  const fault = faultPerFilterConfig(route?.fault, pack);
  if (fault) out.typed_per_filter_config = fault;
  return out;
}

function pathMatch(match: HttpMatch | undefined): Message {
  const out: Message = {};
  const uri = match?.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.regex !== undefined) out.safe_regex = { regex: uri.regex };
  else out.prefix = uri?.prefix ?? '/';
  return out;
}

function routeMatch(match: HttpMatch | undefined): Message {
  const out: Message = pathMatch(match);
  if (match?.ignoreUriCase) out.case_sensitive = { value: false };
  const headers = Object.entries(match?.headers ?? {}).map(([name, value]) => ({
    name,
    string_match:
      value.exact !== undefined
        ? { exact: value.exact }
        : value.prefix !== undefined
          ? { prefix: value.prefix }
          : { safe_regex: { regex: value.regex ?? '.*' } },
  }));
  if (headers.length > 0) out.headers = headers;
  return out;
}

function routeAction(
  destinations: readonly RouteDestination[],
  namespace: string,
  service: MeshService,
  port: number,
  snapshot: RegistrySnapshot,
): Message | undefined {
  const weighted = destinations
    .map((d) => ({
      name: destinationCluster(d, namespace, service, port, snapshot),
      weight: d.weight ?? (destinations.length === 1 ? 100 : 0),
    }))
    .filter((d) => d.weight > 0);
  if (weighted.length === 0) return undefined;
  if (weighted.length === 1) return { cluster: weighted[0].name };
  return { weighted_clusters: { clusters: weighted.map((d) => ({ name: d.name, weight: { value: d.weight } })) } };
}

function destinationCluster(
  route: RouteDestination,
  namespace: string,
  service: MeshService,
  port: number,
  snapshot: RegistrySnapshot,
): string {
  const host = resolveHost(route.destination.host, namespace);
  const target = host === service.host ? service : findService(snapshot, host, namespace);
  const explicit = route.destination.port?.number;
  const targetPort =
    explicit ??
    (target?.ports.some((p) => p.number === port) ? port : target?.ports.length === 1 ? target.ports[0].number : port);
  return clusterName(targetPort, route.destination.subset ?? '', target?.host ?? host);
}
