import { X509Certificate } from 'node:crypto';
import type { IdentitySnapshot } from '../identity/types';

/** One subject alternative name, as Envoy's `/certs` lists it. */
export interface SubjectAltName {
  readonly uri?: string;
  readonly dns?: string;
  readonly ip_address?: string;
}

/** Envoy's `envoy.admin.v3.CertificateDetails`, minus `path` and OCSP details. */
export interface CertificateDetails {
  /** Lower-case hex. */
  readonly serial_number: string;
  readonly subject_alt_names: readonly SubjectAltName[];
  /** RFC 3339, as Envoy writes a Timestamp. */
  readonly valid_from: string;
  readonly expiration_time: string;
  /** Whole days left, 0 once expired; a string, as Envoy writes a uint64 in JSON. */
  readonly days_until_expiration: string;
}

/** Envoy's `/certs` answer: the trust roots (`ca_cert`) and the workload chain, leaf first (`cert_chain`). */
export interface CertsDump {
  readonly certificates: readonly {
    readonly ca_cert: readonly CertificateDetails[];
    readonly cert_chain: readonly CertificateDetails[];
  }[];
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const DAY_MS = 24 * 3600 * 1000;

/**
 * The proxy's certificates in the shape of Envoy's `/certs`: empty before the first one.
 * Built from CERTIFICATE blocks only; the private key is never read.
 */
export function certsDump(snapshot: IdentitySnapshot | undefined, now: Date): CertsDump {
  if (!snapshot) return { certificates: [] };
  return {
    certificates: [
      {
        ca_cert: snapshot.rootsPem.flatMap((pem) => certificateDetails(pem, now)),
        cert_chain: certificateDetails(snapshot.certificate.chainPem, now),
      },
    ],
  };
}

/** Details of every certificate in a PEM bundle, in order (unparsable blocks are skipped). */
export function certificateDetails(bundle: string, now: Date): CertificateDetails[] {
  const details: CertificateDetails[] = [];
  for (const pem of bundle.match(CERTIFICATE_BLOCK) ?? []) {
    const cert = parse(pem);
    if (cert) details.push(describe(cert, now));
  }
  return details;
}

function parse(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function describe(cert: X509Certificate, now: Date): CertificateDetails {
  const notAfter = new Date(cert.validTo);
  return {
    serial_number: cert.serialNumber.toLowerCase(),
    subject_alt_names: subjectAltNames(cert.subjectAltName),
    valid_from: timestamp(new Date(cert.validFrom)),
    expiration_time: timestamp(notAfter),
    days_until_expiration: String(Math.max(0, Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS))),
  };
}

/**
 * Parses node's `subjectAltName` text (`URI:spiffe://..., DNS:a.example, IP Address:10.0.0.1`;
 * values with special characters come JSON-quoted). Other kinds (email...) are left out, as Envoy does.
 */
export function subjectAltNames(text: string | undefined): SubjectAltName[] {
  const names: SubjectAltName[] = [];
  const entry = /(URI|DNS|IP Address):("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/g;
  for (const match of (text ?? '').matchAll(entry)) {
    const value = unquote(match[2]!);
    if (match[1] === 'URI') names.push({ uri: value });
    else if (match[1] === 'DNS') names.push({ dns: value });
    else names.push({ ip_address: value });
  }
  return names;
}

function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  try {
    return JSON.parse(value) as string;
  } catch {
    return value.slice(1, -1);
  }
}

/** RFC 3339 without fractional seconds when they are zero, as protobuf's JSON writes a Timestamp. */
function timestamp(date: Date): string {
  return date.toISOString().replace('.000Z', 'Z');
}
