import { type KeyObject, X509Certificate } from 'node:crypto';
import { parseSpiffeId, splitPemCertificates } from '#libs/pki';
import { ProxyError } from './errors';
import type { WorkloadCertificate } from './types';

/**
 * The form serials are compared in, Citadel's: upper-case hex of the serial's bytes with
 * leading zero bytes dropped, exactly as node:crypto's `X509Certificate.serialNumber` (and a
 * TLS peer certificate's `serialNumber`) prints it. Lower-case or zero-padded input is accepted.
 */
export function normalizeSerial(serial: string): string {
  let hex = serial.trim().toUpperCase();
  if (hex.length % 2 === 1) hex = `0${hex}`;
  while (hex.length > 2 && hex.startsWith('00')) hex = hex.slice(2);
  return hex;
}

/** `AB:CD:...` (node:crypto fingerprint format) as lower-case hex without colons. */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replace(/:/g, '').toLowerCase();
}

/** The single SPIFFE ID among a certificate's URI SANs. */
export function spiffeIdOf(certificate: X509Certificate): string {
  const uris = (certificate.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice('URI:'.length).replace(/^"|"$/g, ''))
    .filter((uri) => uri.startsWith('spiffe://'));
  if (uris.length !== 1) {
    throw new ProxyError('CERTIFICATE_INVALID', `the issued certificate carries ${uris.length} SPIFFE IDs, not one`);
  }
  try {
    parseSpiffeId(uris[0]!);
  } catch (error) {
    throw new ProxyError('CERTIFICATE_INVALID', `the issued certificate's URI SAN is not a workload SPIFFE ID`, {
      cause: error,
    });
  }
  return uris[0]!;
}

/**
 * Turns Citadel's `cert_chain` (leaf, intermediates..., root) into the proxy's certificate:
 * self-signed roots are dropped (peers trust them through the bundle), the leaf must certify
 * exactly `publicKey` and carry one SPIFFE ID.
 *
 * @throws ProxyError `CERTIFICATE_INVALID` when the chain is empty, unparsable or not for our key.
 */
export function parseIssuedChain(params: {
  certChain: readonly string[];
  publicKey: KeyObject;
  keyPem: string;
}): WorkloadCertificate {
  const pems = splitChain(params.certChain);
  const certificates = pems.map(parseCertificate);
  const leaf = certificates[0];
  if (!leaf) throw new ProxyError('CERTIFICATE_INVALID', 'Citadel answered with an empty certificate chain');
  const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
  if (!spki(leaf.publicKey).equals(spki(params.publicKey))) {
    throw new ProxyError('CERTIFICATE_INVALID', 'the issued certificate does not certify the key we asked for');
  }
  const presented = pems.filter((_, index) => index === 0 || !isSelfSigned(certificates[index]!));
  return {
    spiffeId: spiffeIdOf(leaf),
    chainPem: presented.join(''),
    keyPem: params.keyPem,
    serial: leaf.serialNumber,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint256: normalizeFingerprint(leaf.fingerprint256),
  };
}

/** Every CERTIFICATE block of every element, in order (an element may hold several). */
function splitChain(certChain: readonly string[]): string[] {
  try {
    return certChain.flatMap((element) => splitPemCertificates(element));
  } catch (error) {
    throw new ProxyError('CERTIFICATE_INVALID', 'Citadel answered with a certificate chain that is not PEM', {
      cause: error,
    });
  }
}

function parseCertificate(pem: string, index: number): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new ProxyError('CERTIFICATE_INVALID', `certificate ${index + 1} of Citadel's chain cannot be parsed`, {
      cause: error,
    });
  }
}

function isSelfSigned(certificate: X509Certificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}
