/**
 * A workload's labels as a proxy sends them to the policy service (`labels=app=server,version=v1`
 * on `GET /v1/bundles/authz`), so that its bundle holds only the AuthorizationPolicies whose
 * selector matches it. Keys and values must be Kubernetes label keys and values (the only ones
 * an Istio `selector.matchLabels` can name), so `,` and `=` never need escaping.
 */

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a Kubernetes label key, or null. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.indexOf('/');
  const [prefix, name] = slash < 0 ? [null, key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix !== null && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `the prefix of label key ${JSON.stringify(key)} is not a DNS subdomain (lower-case, at most 253 characters)`;
  }
  if (!NAME.test(name)) {
    return (
      `${JSON.stringify(key)} is not a label key: a name of 1 to 63 characters (letters, digits, "-", "_", "."; ` +
      'starting and ending with a letter or digit), optionally after a DNS subdomain prefix and "/"'
    );
  }
  return null;
}

/** Why `value` is not a Kubernetes label value, or null. */
export function labelValueProblem(key: string, value: string): string | null {
  if (value === '' || NAME.test(value)) return null;
  return (
    `the value of label ${JSON.stringify(key)} is not a label value: empty, or 1 to 63 characters ` +
    '(letters, digits, "-", "_", "."; starting and ending with a letter or digit)'
  );
}

/** `k=v,k=v` → labels (`""` is a workload without labels); throws with a message naming the first problem. */
export function parseWorkloadLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === '') return labels;
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=');
    if (at < 0) throw new Error(`${JSON.stringify(pair)} is not key=value`);
    const [key, value] = [pair.slice(0, at), pair.slice(at + 1)];
    const problem = labelKeyProblem(key) ?? labelValueProblem(key, value);
    if (problem) throw new Error(problem);
    if (Object.hasOwn(labels, key)) throw new Error(`label ${JSON.stringify(key)} is given twice`);
    labels[key] = value;
  }
  return labels;
}

/**
 * `labels` as `parseWorkloadLabels` reads them (sorted by key), or null when one is not a
 * Kubernetes label (such a workload asks for its namespace's whole set instead).
 */
export function formatWorkloadLabels(labels: Readonly<Record<string, string>>): string | null {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.some(([k, v]) => labelKeyProblem(k) !== null || labelValueProblem(k, v) !== null)) return null;
  return entries.map(([k, v]) => `${k}=${v}`).join(',');
}
