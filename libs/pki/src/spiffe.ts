import { PkiError } from './errors';

/** A Kubernetes workload identity as carried in a SPIFFE ID. */
export interface SpiffeId {
  /** SPIFFE trust domain, e.g. `cluster.local`: `[a-z0-9._-]`, 1-255 characters. */
  readonly trustDomain: string;
  /** Kubernetes namespace: a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters). */
  readonly namespace: string;
  /** Kubernetes service account: a DNS-1123 subdomain (dot-separated labels, at most 253 characters). */
  readonly serviceAccount: string;
}

const SCHEME = 'spiffe://';
const MAX_ID_LENGTH = 2048;
const MAX_TRUST_DOMAIN_LENGTH = 255;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?';
const DNS_LABEL = new RegExp(`^${LABEL}$`);
const DNS_SUBDOMAIN = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/**
 * Parses `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 *
 * Contract: accepts exactly that shape, nothing else: lowercase scheme, no port, user info,
 * query, fragment, percent-encoding, trailing or doubled slash, or extra path segments. The
 * trust domain follows the SPIFFE ID spec (lowercase letters, digits, `.`, `-`, `_`); the
 * namespace and service account follow Kubernetes naming, so `.`/`..` and empty segments are
 * refused. `formatSpiffeId(parseSpiffeId(s)) === s` for every accepted `s`.
 *
 * @throws PkiError `SPIFFE_ID_INVALID`, naming the first part that is wrong.
 */
export function parseSpiffeId(id: string): SpiffeId {
  if (typeof id !== 'string' || id.length === 0) throw invalid(String(id), 'it is empty');
  if (id.length > MAX_ID_LENGTH)
    throw invalid(id.slice(0, 64) + '...', `it is longer than ${MAX_ID_LENGTH} characters`);
  if (!id.startsWith(SCHEME)) throw invalid(id, `it does not start with "${SCHEME}"`);
  const rest = id.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  checkTrustDomain(trustDomain, id);
  const path = slash < 0 ? '' : rest.slice(slash);
  const segments = path.split('/').slice(1);
  if (segments.length !== 4 || segments[0] !== 'ns' || segments[2] !== 'sa') {
    throw invalid(id, `its path ${JSON.stringify(path)} is not /ns/<namespace>/sa/<service-account>`);
  }
  const [, namespace, , serviceAccount] = segments as [string, string, string, string];
  checkNamespace(namespace, id);
  checkServiceAccount(serviceAccount, id);
  return { trustDomain, namespace, serviceAccount };
}

/**
 * Formats a workload identity as a SPIFFE ID, validating every part with the same rules as
 * `parseSpiffeId`.
 *
 * @throws PkiError `SPIFFE_ID_INVALID`.
 */
export function formatSpiffeId(id: SpiffeId): string {
  const text = `${SCHEME}${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
  checkTrustDomain(id.trustDomain, text);
  checkNamespace(id.namespace, text);
  checkServiceAccount(id.serviceAccount, text);
  return text;
}

/** True when `id` is a SPIFFE ID `parseSpiffeId` accepts. */
export function isSpiffeId(id: string): boolean {
  try {
    parseSpiffeId(id);
    return true;
  } catch {
    return false;
  }
}

function checkTrustDomain(trustDomain: string, id: string): void {
  if (trustDomain.length === 0) throw invalid(id, 'its trust domain is empty');
  if (trustDomain.length > MAX_TRUST_DOMAIN_LENGTH) {
    throw invalid(id, `its trust domain is longer than ${MAX_TRUST_DOMAIN_LENGTH} characters`);
  }
  if (!TRUST_DOMAIN.test(trustDomain)) {
    throw invalid(
      id,
      `its trust domain ${JSON.stringify(trustDomain)} may only contain lowercase letters, digits, ".", "-" and "_"`,
    );
  }
}

function checkNamespace(namespace: string, id: string): void {
  if (namespace.length === 0) throw invalid(id, 'its namespace is empty');
  if (namespace.length > 63) throw invalid(id, 'its namespace is longer than 63 characters');
  if (!DNS_LABEL.test(namespace)) {
    throw invalid(
      id,
      `its namespace ${JSON.stringify(namespace)} is not a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?)`,
    );
  }
}

function checkServiceAccount(serviceAccount: string, id: string): void {
  if (serviceAccount.length === 0) throw invalid(id, 'its service account is empty');
  if (serviceAccount.length > 253) throw invalid(id, 'its service account is longer than 253 characters');
  if (!DNS_SUBDOMAIN.test(serviceAccount)) {
    throw invalid(
      id,
      `its service account ${JSON.stringify(serviceAccount)} is not a DNS-1123 subdomain (dot-separated labels of [a-z0-9-])`,
    );
  }
}

function invalid(id: string, why: string): PkiError {
  return new PkiError(
    'SPIFFE_ID_INVALID',
    `${JSON.stringify(id)} is not a SPIFFE ID of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>: ${why}`,
  );
}
