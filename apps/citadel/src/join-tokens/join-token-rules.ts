import type { FieldProblem } from '#libs/errors';
import { formatSpiffeId, isPkiError } from '#libs/pki';

export const DEFAULT_TTL_SECONDS = 3600;
export const MIN_TTL_SECONDS = 60;
export const MAX_TTL_SECONDS = 30 * 86_400;
export const DEFAULT_MAX_USES = 1;
export const MAX_MAX_USES = 100_000;

const NAMESPACE_RULE =
  'must be a Kubernetes namespace name: a DNS-1123 label of at most 63 lowercase letters, digits and "-", ' +
  'starting and ending with a letter or digit';
const SERVICE_ACCOUNT_RULE =
  'must be a Kubernetes service account name: a DNS-1123 subdomain of at most 253 characters, ' +
  'dot-separated labels of lowercase letters, digits and "-"';

/** A valid identity to vary one part of when asking libs/pki whether a name is acceptable. */
const PROBE = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'default' };

/** Why `value` cannot be the namespace of a SPIFFE ID, or undefined when it can. */
export function namespaceProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return NAMESPACE_RULE;
  return spiffeAccepts({ ...PROBE, namespace: value }) ? undefined : NAMESPACE_RULE;
}

/** Why `value` cannot be the service account of a SPIFFE ID, or undefined when it can. */
export function serviceAccountProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return SERVICE_ACCOUNT_RULE;
  return spiffeAccepts({ ...PROBE, serviceAccount: value }) ? undefined : SERVICE_ACCOUNT_RULE;
}

/** Whole numbers in [min, max], or a problem message. */
export function integerProblem(value: unknown, min: number, max: number, unit: string): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return undefined;
  return `must be a whole number of ${unit} from ${min} to ${max}`;
}

/** Every problem with the fields of a mint request, in field order. */
export function mintProblems(params: {
  namespace: unknown;
  serviceAccount: unknown;
  ttlSeconds: unknown;
  maxUses: unknown;
}): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const add = (path: string, message: string | undefined) => {
    if (message) problems.push({ path, message });
  };
  add('namespace', namespaceProblem(params.namespace));
  add('serviceAccount', serviceAccountProblem(params.serviceAccount));
  add('ttlSeconds', integerProblem(params.ttlSeconds, MIN_TTL_SECONDS, MAX_TTL_SECONDS, 'seconds'));
  add('maxUses', integerProblem(params.maxUses, 1, MAX_MAX_USES, 'uses'));
  return problems;
}

/** `ns/<namespace>/sa/<service account>`: the path of the SPIFFE ID a join token grants. */
export function spiffeIdPath(namespace: string, serviceAccount: string): string {
  return `ns/${namespace}/sa/${serviceAccount}`;
}

function spiffeAccepts(id: typeof PROBE): boolean {
  try {
    formatSpiffeId(id);
    return true;
  } catch (error) {
    if (isPkiError(error, 'SPIFFE_ID_INVALID')) return false;
    throw error;
  }
}
