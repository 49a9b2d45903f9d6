import type { KeyObject } from 'node:crypto';
import { classifyKey } from './algorithms';
import type { SigningAuthority } from './authority';
import { seq } from './der';
import { PkiError } from './errors';
import {
  authorityKeyIdentifier,
  basicConstraints,
  extKeyUsageMtls,
  keyIdentifier,
  keyUsage,
  KeyUsageBit,
  describeAltNames,
  subjectAltNames,
  subjectKeyIdentifier,
} from './extensions';
import { encodePem } from './pem';
import { parseSpiffeId } from './spiffe';
import {
  checkSerial,
  checkSignedCertificate,
  DEFAULT_CLOCK_SKEW_SECONDS,
  publicKeyInfo,
  randomSerial,
  serialHex,
  signCertificate,
  validityWindow,
} from './tbs';

/** Inputs of `issueWorkloadCertificate` (cf. SPIRE's WorkloadX509SVIDParams). */
export interface WorkloadCertificateParams {
  /** The key to certify, normally `parseCsr(pem).publicKey` (proof of possession already checked). Must pass the key policy. */
  readonly csrPublicKey: KeyObject;
  /** The caller's authenticated identity; becomes the only SAN. Must be a valid Kubernetes SPIFFE ID. */
  readonly spiffeId: string;
  /** Requested lifetime from `now`, whole seconds > 0. The result may be shorter (see `notAfter`). */
  readonly ttlSeconds: number;
  /** The issuance instant (injected clock); truncated to whole seconds. */
  readonly now: Date;
  /** How far notBefore is back-dated, whole seconds >= 0. Default `DEFAULT_CLOCK_SKEW_SECONDS`. */
  readonly clockSkewSeconds?: number;
  readonly issuer: SigningAuthority;
  /** Unsigned big-endian serial; default a random positive 128-bit value. Tests and replays only. */
  readonly serial?: Buffer;
  /** Extra DNS SANs, after the SPIFFE ID: only for a control-plane server's own certificate. */
  readonly dnsNames?: readonly string[];
  /** Extra IP SANs (IPv4/IPv6 literals), after the DNS names: only for a control-plane server's own certificate. */
  readonly ipAddresses?: readonly string[];
}

/** A verified workload certificate. */
export interface IssuedCertificate {
  /** The leaf certificate, PEM. Already verified against the issuer (sign-then-verify). */
  readonly certPem: string;
  /** The issuer's certificate first, then its chain up to the root: what the workload presents after `certPem`. */
  readonly chainPem: readonly string[];
  /** Uppercase hex without leading zeros, equal to node:crypto's `X509Certificate.serialNumber`. */
  readonly serialHex: string;
  /** `now - clockSkewSeconds`, but never before the issuing chain's `validFrom`. */
  readonly notBefore: Date;
  /**
   * `now + ttlSeconds`, capped at the issuing chain's `validUntil`: a leaf never outlives its
   * issuer. Compare with the requested TTL to detect (and report) a capped lifetime.
   */
  readonly notAfter: Date;
  /** SHA-256 of the certificate DER, colon-separated uppercase hex (node:crypto `fingerprint256` format). */
  readonly fingerprintSha256: string;
}

const EMPTY_NAME = seq();
const LEAF_KEY_USAGE = keyUsage([KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment]);
const LEAF_BASIC_CONSTRAINTS = basicConstraints(false);
const LEAF_EXT_KEY_USAGE = extKeyUsageMtls();

/**
 * Issues an X.509-SVID: a v3 leaf certificate for `spiffeId` over `csrPublicKey`, signed by
 * `issuer`. Profile (Istio-compatible): empty subject; critical SAN with exactly the SPIFFE
 * ID as URI; critical basicConstraints CA:FALSE; critical keyUsage digitalSignature +
 * keyEncipherment; extKeyUsage serverAuth + clientAuth; SKI; AKI = issuer's SKI.
 *
 * Contract (sign-then-verify): the certificate is parsed back with node:crypto and checked
 * (issuer signature, `checkIssued`, serial, key, CA:FALSE, SAN, validity window) before it is
 * returned; an unverified certificate is never returned.
 *
 * @throws PkiError `SPIFFE_ID_INVALID`, `KEY_WEAK`, `TTL_INVALID`, or `CA_INVALID` (issuer
 *   expired / not yet valid at `now`, or the post-signing check failed).
 * @throws RangeError for an invalid `now` or `serial`, TypeError for a non-public key (programming errors).
 */
export function issueWorkloadCertificate(params: WorkloadCertificateParams): IssuedCertificate {
  const { issuer, spiffeId } = params;
  parseSpiffeId(spiffeId);
  if (params.csrPublicKey?.type !== 'public') throw new TypeError('csrPublicKey must be a public KeyObject');
  const key = classifyKey(params.csrPublicKey);
  if ('rejected' in key) throw new PkiError('KEY_WEAK', `workload key rejected: ${key.rejected}`);
  const { notBefore, notAfter } = validityWindow({
    now: params.now,
    ttlSeconds: params.ttlSeconds,
    clockSkewSeconds: params.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    issuerValidFrom: issuer.validFrom,
    issuerValidUntil: issuer.validUntil,
  });
  const serial = params.serial ?? randomSerial();
  const hex = params.serial ? checkSerial(params.serial) : serialHex(serial);
  const { spkiDer, subjectPublicKeyBits } = publicKeyInfo(params.csrPublicKey);
  const altNames = { uri: spiffeId, dnsNames: params.dnsNames ?? [], ipAddresses: params.ipAddresses ?? [] };
  const der = signCertificate(
    {
      serial,
      signingAlgorithm: issuer.signingAlgorithm,
      issuerDer: issuer.subjectDer,
      notBefore,
      notAfter,
      subjectDer: EMPTY_NAME,
      spkiDer,
      extensions: [
        subjectAltNames(altNames, true),
        LEAF_BASIC_CONSTRAINTS,
        LEAF_KEY_USAGE,
        LEAF_EXT_KEY_USAGE,
        subjectKeyIdentifier(keyIdentifier(subjectPublicKeyBits)),
        authorityKeyIdentifier(issuer.subjectKeyId),
      ],
    },
    issuer.privateKey,
  );
  const cert = checkSignedCertificate(der, {
    issuer: issuer.certificate,
    issuerPublicKey: issuer.publicKey,
    serialHex: hex,
    publicKey: params.csrPublicKey,
    notBefore,
    notAfter,
    ca: false,
    subjectAltName: describeAltNames(altNames),
  });
  return {
    certPem: encodePem('CERTIFICATE', der),
    chainPem: [issuer.certPem, ...issuer.chainPem],
    serialHex: hex,
    notBefore,
    notAfter,
    fingerprintSha256: cert.fingerprint256,
  };
}
