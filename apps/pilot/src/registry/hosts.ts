/** The DNS suffix of mesh services, as in Kubernetes: `<name>.<namespace>.svc.cluster.local`. */
export const CLUSTER_DOMAIN = 'cluster.local';

/**
 * The fully qualified host a name refers to from `namespace`, as Istio resolves short names in
 * VirtualServices and DestinationRules: `reviews` → `reviews.<namespace>.svc.cluster.local`;
 * a name with a dot is taken as written.
 */
export function resolveHost(host: string, namespace: string): string {
  const lower = host.toLowerCase();
  return lower.includes('.') ? lower : `${lower}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

/**
 * The fully qualified hosts a client in `namespace` may mean by `host`, most specific first:
 * `echo`, `echo.default`, `echo.default.svc` and the full name all name the same service.
 */
export function candidateHosts(host: string, namespace: string): string[] {
  const lower = host.toLowerCase();
  const parts = lower.split('.');
  const candidates = [lower];
  if (parts.length === 1) candidates.push(`${lower}.${namespace}.svc.${CLUSTER_DOMAIN}`);
  if (parts.length === 2) candidates.push(`${lower}.svc.${CLUSTER_DOMAIN}`);
  if (parts.length === 3 && parts[2] === 'svc') candidates.push(`${lower}.${CLUSTER_DOMAIN}`);
  return candidates;
}

/** Whether every label the selector asks for is on the workload (an empty selector selects nothing). */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}

/** Whether `labels` has every label of a subset (an empty subset matches everything). */
export function hasLabels(wanted: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(wanted ?? {}).every(([key, value]) => labels[key] === value);
}
