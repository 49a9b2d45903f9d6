import { isIP } from 'node:net';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Kubernetes rules for names; each returns a message, or undefined when the value is valid. */
export function dnsLabelProblem(value: string): string | undefined {
  if (value.length > 63) return 'must be at most 63 characters';
  return DNS_LABEL.test(value) ? undefined : 'must be a DNS-1123 label: lowercase letters, digits and "-"';
}

export function dnsSubdomainProblem(value: string): string | undefined {
  if (value.length > 253) return 'must be at most 253 characters';
  return DNS_SUBDOMAIN.test(value) ? undefined : 'must be a DNS-1123 subdomain: lowercase letters, digits, "-" and "."';
}

export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
  if (prefix !== undefined && dnsSubdomainProblem(prefix)) return 'label key prefix must be a DNS-1123 subdomain';
  if (name.length > 63 || !LABEL_NAME.test(name)) {
    return 'label key must be at most 63 characters: letters, digits, "-", "_", "." (optionally prefix/)';
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  return value.length <= 63 && LABEL_NAME.test(value)
    ? undefined
    : 'label value must be at most 63 characters: letters, digits, "-", "_", "."';
}

/** An IP address or CIDR block (IPv4 or IPv6). */
export function isIpOrCidr(value: string): boolean {
  const [address, bits, extra] = value.split('/');
  if (extra !== undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d+$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * An Istio principal: `*`, or `<trust-domain>/ns/<namespace>/sa/<service-account>`, where a
 * single `*` may stand at the start or the end (prefix / suffix match, as Istio allows).
 */
export function isPrincipal(value: string): boolean {
  if (value === '*') return true;
  const star = value.indexOf('*');
  if (star >= 0 && (star !== value.lastIndexOf('*') || (star !== 0 && star !== value.length - 1))) return false;
  if (star === 0 || star === value.length - 1) return value.length > 1 && !value.includes('//');
  return /^[^/*\s]+\/ns\/[^/*\s]+\/sa\/[^/*\s]+$/.test(value);
}

/** The trust domain of an exact principal, or undefined for a wildcard one. */
export function principalTrustDomain(value: string): string | undefined {
  if (value.includes('*')) return undefined;
  return /^([^/]+)\/ns\//.exec(value)?.[1];
}
