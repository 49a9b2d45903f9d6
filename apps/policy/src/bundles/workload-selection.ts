import type { NormalPolicy } from '../authorization/normalise';

/**
 * Istio's workload selector: every `matchLabels` pair is one of the workload's labels (an
 * empty selector selects every workload of the policy's scope).
 */
export function selects(policy: NormalPolicy, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(policy.selector)) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return true;
}

/**
 * The policies of `policies` (in set order) that can apply to a workload of `namespace`: its
 * namespace's and the root namespace's and, when its `labels` are known, only those selecting
 * it. Leaving out the others changes no decision for that workload: they never apply to it.
 */
export function policiesFor(
  policies: readonly NormalPolicy[],
  namespace: string,
  labels?: Readonly<Record<string, string>>,
): NormalPolicy[] {
  return policies.filter((p) => (p.mesh || p.namespace === namespace) && (!labels || selects(p, labels)));
}
