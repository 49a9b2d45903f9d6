import type { Kind } from '../resources/kinds';
import { principalTrustDomain } from '../resources/names';
import { asList, asRecord, asString, asStringMap, formatPath, type PathSegments } from '../resources/paths';
import { validateDocument } from '../resources/validation';

export type Level = 'Error' | 'Warning' | 'Info';

/** One finding, in the shape of `istioctl analyze` messages. */
export interface Finding {
  level: Level;
  /** `IST0101`-style code; Bowline's own checks use `BWL` codes. */
  code: string;
  /** The message type, e.g. `ReferencedResourceNotFound`. */
  type: string;
  kind: Kind;
  namespace: string;
  name: string;
  /** The field the finding is about, when there is one. */
  path?: string;
  detail: string;
  /** The whole line as istioctl prints it: `Error [IST0101] (VirtualService reviews.default) ...`. */
  message: string;
}

/** A live resource as the analyzer reads it. */
export interface AnalyzedResource {
  kind: Kind;
  namespace: string;
  name: string;
  object: Record<string, unknown>;
}

export interface AnalyzeParams {
  resources: readonly AnalyzedResource[];
  /** BOWLINE_TRUST_DOMAIN: principals in another trust domain are flagged. */
  trustDomain: string;
  /** Report only on resources in this namespace (references are resolved across all of them). */
  namespace?: string;
}

const TYPES = {
  IST0101: { type: 'ReferencedResourceNotFound', level: 'Error' },
  IST0127: { type: 'NoMatchingWorkloadsFound', level: 'Warning' },
  BWL0001: { type: 'ConflictingPeerAuthentications', level: 'Error' },
  BWL0002: { type: 'UnknownTrustDomain', level: 'Warning' },
  BWL0003: { type: 'UnsupportedField', level: 'Info' },
} as const satisfies Record<string, { type: string; level: Level }>;

const CLUSTER_SUFFIX = 'svc.cluster.local';
/** WorkloadEntry labels that name the service the workload belongs to. */
const SERVICE_LABELS = ['app', 'service', 'service.istio.io/canonical-name'];

/**
 * Cross-resource checks in the spirit of `istioctl analyze`: dangling host, subset and gateway
 * references, subsets that select no workload, conflicting namespace-wide PeerAuthentications,
 * principals from another trust domain, and fields Bowline keeps but does not act on.
 */
export function analyze(params: AnalyzeParams): Finding[] {
  const findings: Finding[] = [];
  const report: Reporter = (r, code, detail, path) => {
    if (params.namespace !== undefined && r.namespace !== params.namespace) return;
    const { type, level } = TYPES[code];
    const where = `${r.kind} ${r.name}.${r.namespace}`;
    findings.push({
      level,
      code,
      type,
      kind: r.kind,
      namespace: r.namespace,
      name: r.name,
      ...(path !== undefined ? { path: typeof path === 'string' ? path : formatPath(path) } : {}),
      detail,
      message: `${level} [${code}] (${where}) ${detail}`,
    });
  };
  const of = (kind: Kind) => params.resources.filter((r) => r.kind === kind);
  const hosts = knownHosts(of('ServiceEntry'), of('WorkloadEntry'));
  const subsets = subsetsByHost(of('DestinationRule'));
  const gateways = new Set(of('Gateway').map((g) => `${g.namespace}/${g.name}`));

  for (const vs of of('VirtualService')) checkVirtualService(vs, hosts, subsets, gateways, report);
  for (const dr of of('DestinationRule')) checkSubsetsSelectWorkloads(dr, of('WorkloadEntry'), report);
  checkPeerAuthentications(of('PeerAuthentication'), report);
  for (const policy of of('AuthorizationPolicy')) checkTrustDomains(policy, params.trustDomain, report);
  for (const resource of params.resources) {
    for (const warning of validateDocument({ index: 0, value: resource.object }).warnings) {
      const detail = `Field ${warning.path} is not supported by Bowline: it is kept but has no effect`;
      report(resource, 'BWL0003', detail, warning.path);
    }
  }
  const rank: Record<Level, number> = { Error: 0, Warning: 1, Info: 2 };
  return findings.sort((a, b) => rank[a.level] - rank[b.level] || a.message.localeCompare(b.message));
}

type Reporter = (r: AnalyzedResource, code: keyof typeof TYPES, detail: string, path?: PathSegments | string) => void;

/** The fully qualified name of `host` as seen from `namespace` (short names are namespace-local). */
export function qualify(host: string, namespace: string): string {
  if (!host.includes('.')) return `${host}.${namespace}.${CLUSTER_SUFFIX}`;
  if (host.split('.').length === 2) return `${host}.${CLUSTER_SUFFIX}`;
  return host;
}

function knownHosts(entries: readonly AnalyzedResource[], workloads: readonly AnalyzedResource[]): string[] {
  const hosts = entries.flatMap((se) => asList(asRecord(se.object.spec).hosts).map(String));
  for (const we of workloads) {
    const labels = asStringMap(asRecord(we.object.spec).labels);
    for (const label of SERVICE_LABELS)
      if (labels[label]) hosts.push(`${labels[label]}.${we.namespace}.${CLUSTER_SUFFIX}`);
  }
  return hosts;
}

function hostKnown(host: string, known: readonly string[]): boolean {
  return known.some((k) => k === host || (k.startsWith('*') && host.endsWith(k.slice(1))) || k === '*');
}

function subsetsByHost(rules: readonly AnalyzedResource[]): Map<string, Set<string>> {
  const byHost = new Map<string, Set<string>>();
  for (const dr of rules) {
    const spec = asRecord(dr.object.spec);
    const host = qualify(asString(spec.host) ?? '', dr.namespace);
    const names = byHost.get(host) ?? new Set<string>();
    for (const subset of asList(spec.subsets)) names.add(asString(asRecord(subset).name) ?? '');
    byHost.set(host, names);
  }
  return byHost;
}

function checkVirtualService(
  vs: AnalyzedResource,
  hosts: readonly string[],
  subsets: Map<string, Set<string>>,
  gateways: Set<string>,
  report: Reporter,
): void {
  const spec = asRecord(vs.object.spec);
  asList(spec.gateways).forEach((gateway, i) => {
    const name = String(gateway);
    if (name === 'mesh') return;
    const qualified = name.includes('/') ? name : `${vs.namespace}/${name}`;
    if (!gateways.has(qualified))
      report(vs, 'IST0101', `Referenced gateway not found: "${name}"`, ['spec', 'gateways', i]);
  });
  for (const section of ['http', 'tls', 'tcp']) {
    asList(spec[section]).forEach((route, r) => {
      asList(asRecord(route).route).forEach((item, d) => {
        const destination = asRecord(asRecord(item).destination);
        const host = asString(destination.host);
        if (!host) return;
        const path = ['spec', section, r, 'route', d, 'destination'];
        const fqdn = qualify(host, vs.namespace);
        if (!hostKnown(fqdn, hosts) && !hostKnown(host, hosts)) {
          report(vs, 'IST0101', `Referenced host not found: "${host}"`, [...path, 'host']);
        }
        const subset = asString(destination.subset);
        if (subset && !subsets.get(fqdn)?.has(subset)) {
          report(vs, 'IST0101', `Referenced host+subset in destinationrule not found: "${host}+${subset}"`, [
            ...path,
            'subset',
          ]);
        }
      });
    });
  }
}

function checkSubsetsSelectWorkloads(
  dr: AnalyzedResource,
  workloads: readonly AnalyzedResource[],
  report: Reporter,
): void {
  asList(asRecord(dr.object.spec).subsets).forEach((item, i) => {
    const subset = asRecord(item);
    const labels = asStringMap(subset.labels);
    if (Object.keys(labels).length === 0) return;
    const selected = workloads.some((we) => {
      const weLabels = asStringMap(asRecord(we.object.spec).labels);
      return Object.entries(labels).every(([key, value]) => weLabels[key] === value);
    });
    if (!selected) {
      const text = Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      report(dr, 'IST0127', `No matching workloads for subset "${asString(subset.name)}" (labels ${text})`, [
        'spec',
        'subsets',
        i,
        'labels',
      ]);
    }
  });
}

function checkPeerAuthentications(policies: readonly AnalyzedResource[], report: Reporter): void {
  const namespaceWide = new Map<string, AnalyzedResource[]>();
  for (const pa of policies) {
    const selector = asStringMap(asRecord(asRecord(pa.object.spec).selector).matchLabels);
    if (Object.keys(selector).length > 0) continue;
    namespaceWide.set(pa.namespace, [...(namespaceWide.get(pa.namespace) ?? []), pa]);
  }
  for (const list of namespaceWide.values()) {
    if (list.length < 2) continue;
    const names = list.map((pa) => pa.name).sort();
    for (const pa of list) {
      report(
        pa,
        'BWL0001',
        `Namespace-wide PeerAuthentications conflict in namespace ${pa.namespace}: ${names.join(', ')} (keep one)`,
      );
    }
  }
}

function checkTrustDomains(policy: AnalyzedResource, trustDomain: string, report: Reporter): void {
  asList(asRecord(policy.object.spec).rules).forEach((rule, r) => {
    asList(asRecord(rule).from).forEach((from, f) => {
      const source = asRecord(asRecord(from).source);
      for (const field of ['principals', 'notPrincipals']) {
        asList(source[field]).forEach((principal, i) => {
          const domain = principalTrustDomain(String(principal));
          if (domain !== undefined && domain !== trustDomain) {
            report(
              policy,
              'BWL0002',
              `Principal "${principal}" is in trust domain "${domain}", not this mesh's "${trustDomain}"`,
              ['spec', 'rules', r, 'from', f, 'source', field, i],
            );
          }
        });
      }
    });
  });
}
