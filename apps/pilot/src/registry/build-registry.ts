import { isDeepStrictEqual } from 'node:util';
import type { ConfigResource } from './config-store';
import { candidateHosts, resolveHost, selects } from './hosts';
import type { MeshService, ServiceEndpoint, ServicePort } from './model';
import type { RegisteredWorkload } from './workload-registrations';

/** Everything config generation reads, computed once per change. */
export interface RegistrySnapshot {
  /** Services by fully qualified host, sorted by host. */
  readonly services: ReadonlyMap<string, MeshService>;
  /** DestinationRule subsets (name → labels) by fully qualified host. */
  readonly subsets: ReadonlyMap<string, ReadonlyMap<string, Readonly<Record<string, string>>>>;
  /** VirtualServices that apply to sidecars (no gateways, or `mesh`), by fully qualified host. */
  readonly virtualServices: ReadonlyMap<string, readonly ConfigResource[]>;
  /** The DestinationRule of each fully qualified host (the first by namespace/name, as for subsets). */
  readonly destinationRules: ReadonlyMap<string, ConfigResource>;
  /** Every PeerAuthentication, ordered by namespace then name. */
  readonly peerAuthentications: readonly ConfigResource[];
}

export interface RegistryInputs {
  readonly serviceEntries: readonly ConfigResource[];
  readonly workloadEntries: readonly ConfigResource[];
  readonly virtualServices: readonly ConfigResource[];
  readonly destinationRules: readonly ConfigResource[];
  /** Unset: none. */
  readonly peerAuthentications?: readonly ConfigResource[];
  readonly workloads: readonly RegisteredWorkload[];
}

/**
 * Builds the service registry: a service per ServiceEntry host (its STATIC `endpoints`, plus the
 * WorkloadEntries and registered workloads of its namespace its `workloadSelector` selects), and
 * a service per host that registering workloads declare (BOWLINE_SERVICE) when no ServiceEntry
 * defines it. The first ServiceEntry (by namespace/name) defining a host wins.
 */
export function buildRegistry(inputs: RegistryInputs): RegistrySnapshot {
  const services = new Map<string, { service: MeshService; endpoints: ServiceEndpoint[] }>();

  for (const entry of inputs.serviceEntries) {
    const spec = entry.spec as ServiceEntrySpec;
    const ports = (spec.ports ?? []).map((port): ServicePort => ({
      number: port.number,
      name: port.name ?? String(port.number),
      protocol: port.protocol ?? 'TCP',
      targetPort: port.targetPort,
    }));
    const endpoints: ServiceEndpoint[] = [];
    const source = `ServiceEntry ${entry.namespace}/${entry.name}`;
    for (const endpoint of spec.endpoints ?? []) {
      if (endpoint.address) endpoints.push(fromWorkloadSpec(endpoint, entry.namespace, source));
    }
    const selector = spec.workloadSelector?.labels;
    if (selector) {
      for (const workload of inputs.workloadEntries) {
        const workloadSpec = workload.spec as WorkloadSpec;
        if (
          workload.namespace === entry.namespace &&
          workloadSpec.address &&
          selects(selector, workloadSpec.labels ?? {})
        ) {
          endpoints.push(
            fromWorkloadSpec(workloadSpec, workload.namespace, `WorkloadEntry ${workload.namespace}/${workload.name}`),
          );
        }
      }
      for (const workload of inputs.workloads) {
        if (workload.namespace === entry.namespace && selects(selector, workload.labels)) {
          endpoints.push(fromRegistration(workload));
        }
      }
    }
    for (const host of spec.hosts ?? []) {
      const fqdn = host.toLowerCase();
      if (services.has(fqdn)) continue;
      services.set(fqdn, {
        service: { host: fqdn, namespace: entry.namespace, ports, endpoints: [], source },
        endpoints: [...endpoints],
      });
    }
  }

  const declared = new Map<string, RegisteredWorkload[]>();
  for (const workload of inputs.workloads) {
    if (!workload.service) continue;
    const host = resolveHost(workload.service, workload.namespace);
    declared.set(host, [...(declared.get(host) ?? []), workload]);
  }
  for (const [host, workloads] of declared) {
    const existing = services.get(host);
    if (existing) {
      for (const endpoint of workloads.map(fromRegistration)) {
        if (!existing.endpoints.some((e) => e.source === endpoint.source)) existing.endpoints.push(endpoint);
      }
      continue;
    }
    // Workloads declaring the same service may declare different ports: the service has them all.
    const numbers = [...new Set(workloads.flatMap((workload) => [...workload.ports.keys()]))].sort((a, b) => a - b);
    const protocol = workloads[0].protocol ?? 'GRPC';
    const ports = numbers.map((number): ServicePort => ({ number, name: String(number), protocol }));
    services.set(host, {
      service: { host, namespace: workloads[0].namespace, ports, endpoints: [], source: 'xds' },
      endpoints: workloads.map(fromRegistration),
    });
  }

  const sorted = new Map<string, MeshService>();
  for (const host of [...services.keys()].sort()) {
    const { service, endpoints } = services.get(host)!;
    sorted.set(host, { ...service, endpoints });
  }
  const destinationRules = destinationRulesByHost(inputs.destinationRules);
  return {
    services: sorted,
    subsets: subsetsOf(destinationRules),
    virtualServices: virtualServicesByHost(inputs.virtualServices),
    destinationRules,
    peerAuthentications: [...(inputs.peerAuthentications ?? [])],
  };
}

const SNAPSHOT_FIELDS = ['services', 'subsets', 'virtualServices', 'destinationRules', 'peerAuthentications'] as const;

/**
 * `next`, with each field that equals (deeply) the same field of `previous` replaced by that
 * very object. A change to one kind of config then leaves the other fields identical, which is
 * how config generation tells what it can keep (see ConfigGenerator).
 */
export function shareUnchanged(previous: RegistrySnapshot | undefined, next: RegistrySnapshot): RegistrySnapshot {
  if (!previous) return next;
  const shared: Record<string, unknown> = {};
  for (const field of SNAPSHOT_FIELDS) {
    shared[field] = isDeepStrictEqual(previous[field], next[field]) ? previous[field] : next[field];
  }
  return shared as unknown as RegistrySnapshot;
}

/** The service a client in `namespace` means by `host` (short names allowed), if any. */
export function findService(snapshot: RegistrySnapshot, host: string, namespace: string): MeshService | undefined {
  for (const candidate of candidateHosts(host, namespace)) {
    const service = snapshot.services.get(candidate);
    if (service) return service;
  }
  return undefined;
}

interface WorkloadSpec {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  serviceAccount?: string;
}

interface ServiceEntrySpec {
  hosts?: string[];
  ports?: { number: number; name?: string; protocol?: string; targetPort?: number }[];
  resolution?: string;
  endpoints?: WorkloadSpec[];
  workloadSelector?: { labels?: Record<string, string> };
}

function fromWorkloadSpec(spec: WorkloadSpec, namespace: string, source: string): ServiceEndpoint {
  return {
    address: spec.address!,
    ports: spec.ports ?? {},
    labels: spec.labels ?? {},
    serviceAccount: spec.serviceAccount,
    namespace,
    healthy: true,
    source,
  };
}

function fromRegistration(workload: RegisteredWorkload): ServiceEndpoint {
  return {
    address: workload.address,
    ports: Object.fromEntries([...workload.ports.entries()].map(([service, target]) => [String(service), target])),
    labels: workload.labels,
    serviceAccount: workload.serviceAccount,
    namespace: workload.namespace,
    healthy: workload.healthy,
    source: `xds ${workload.nodeId}`,
  };
}

/** The DestinationRule that applies to each host: the first (by namespace/name) naming it. */
function destinationRulesByHost(rules: readonly ConfigResource[]): Map<string, ConfigResource> {
  const byHost = new Map<string, ConfigResource>();
  for (const rule of rules) {
    const spec = rule.spec as { host?: string };
    if (!spec.host) continue;
    const host = resolveHost(spec.host, rule.namespace);
    if (!byHost.has(host)) byHost.set(host, rule);
  }
  return byHost;
}

function subsetsOf(rules: ReadonlyMap<string, ConfigResource>): RegistrySnapshot['subsets'] {
  const byHost = new Map<string, Map<string, Record<string, string>>>();
  for (const [host, rule] of rules) {
    const spec = rule.spec as { subsets?: { name: string; labels?: Record<string, string> }[] };
    byHost.set(host, new Map((spec.subsets ?? []).map((subset) => [subset.name, subset.labels ?? {}])));
  }
  return byHost;
}

function virtualServicesByHost(virtualServices: readonly ConfigResource[]): RegistrySnapshot['virtualServices'] {
  const byHost = new Map<string, ConfigResource[]>();
  for (const vs of virtualServices) {
    const spec = vs.spec as { hosts?: string[]; gateways?: string[] };
    const gateways = spec.gateways ?? [];
    if (gateways.length > 0 && !gateways.includes('mesh')) continue;
    for (const host of spec.hosts ?? []) {
      const fqdn = resolveHost(host, vs.namespace);
      byHost.set(fqdn, [...(byHost.get(fqdn) ?? []), vs]);
    }
  }
  return byHost;
}
