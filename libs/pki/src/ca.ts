import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { classifyKey, signingAlgorithmFor } from './algorithms';
import { loadSigningAuthority, type SigningAuthority } from './authority';
import { oid, seq, set, utf8String } from './der';
import { PkiError } from './errors';
import {
  authorityKeyIdentifier,
  basicConstraints,
  keyIdentifier,
  keyUsage,
  KeyUsageBit,
  subjectKeyIdentifier,
} from './extensions';
import { encodePem } from './pem';
import {
  checkSignedCertificate,
  DEFAULT_CLOCK_SKEW_SECONDS,
  publicKeyInfo,
  randomSerial,
  serialHex,
  signCertificate,
  validityWindow,
} from './tbs';

/** Key types a new CA can be created with. */
export type CaKeyType = 'rsa-2048' | 'ecdsa-p256';

/** Default root lifetime: 10 years (Istio's self-signed root default). */
export const DEFAULT_ROOT_TTL_SECONDS = 10 * 365 * 24 * 3600;

/** Inputs of `createRootCa`. */
export interface RootCaParams {
  readonly keyType: CaKeyType;
  /** Subject CN, 1-64 characters. */
  readonly commonName: string;
  /** Subject O, 1-64 characters; Istio puts the trust domain here. */
  readonly organization: string;
  /** Lifetime, whole seconds > 0; default `DEFAULT_ROOT_TTL_SECONDS`. */
  readonly ttlSeconds?: number;
  /** The creation instant (injected clock). */
  readonly now: Date;
  /** Back-dating of notBefore, whole seconds >= 0; default `DEFAULT_CLOCK_SKEW_SECONDS`. */
  readonly clockSkewSeconds?: number;
}

/** Inputs of `createIntermediateCa`. */
export interface IntermediateCaParams {
  /** The CA that signs the new one; its pathLenConstraint must allow one more CA below it. */
  readonly parent: SigningAuthority;
  readonly keyType: CaKeyType;
  readonly commonName: string;
  /** Subject O; default: none. */
  readonly organization?: string;
  /** Requested lifetime, whole seconds > 0; capped at the parent chain's `validUntil`. */
  readonly ttlSeconds: number;
  readonly now: Date;
  readonly clockSkewSeconds?: number;
}

/** New CA material; pass it to `loadSigningAuthority(certPem, privateKey, chainPem)` to sign with it. */
export interface CreatedCa {
  readonly certPem: string;
  readonly privateKey: KeyObject;
  /** Issuer first up to the root; empty for a root CA. */
  readonly chainPem: readonly string[];
}

const CA_KEY_USAGE = keyUsage([KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign]);
const OID_COMMON_NAME = '2.5.4.3';
const OID_ORGANIZATION = '2.5.4.10';
/** 9999-12-31T23:59:59Z, the latest GeneralizedTime RFC 5280 allows. */
const LATEST_X509_TIME = new Date(Date.UTC(9999, 11, 31, 23, 59, 59));

/**
 * Creates a self-signed root CA: fresh key, basicConstraints CA:TRUE (no path length limit)
 * critical, keyUsage keyCertSign + cRLSign critical, SKI. The result has already been loaded
 * and verified with `loadSigningAuthority` (sign-then-verify).
 *
 * @throws PkiError `CA_INVALID` (bad name), `TTL_INVALID`.
 */
export function createRootCa(params: RootCaParams): CreatedCa {
  const subjectDer = caName(params.commonName, params.organization);
  const window = validityWindow({
    now: params.now,
    ttlSeconds: params.ttlSeconds ?? DEFAULT_ROOT_TTL_SECONDS,
    clockSkewSeconds: params.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    issuerValidFrom: new Date(0),
    issuerValidUntil: LATEST_X509_TIME,
  });
  const { publicKey, privateKey } = generateCaKey(params.keyType);
  const { spkiDer, subjectPublicKeyBits } = publicKeyInfo(publicKey);
  const serial = randomSerial();
  const key = classifyKey(privateKey);
  if ('rejected' in key) throw new Error(`unreachable: generated key rejected: ${key.rejected}`);
  const der = signCertificate(
    {
      serial,
      signingAlgorithm: signingAlgorithmFor(key),
      issuerDer: subjectDer,
      subjectDer,
      ...window,
      spkiDer,
      extensions: [basicConstraints(true), CA_KEY_USAGE, subjectKeyIdentifier(keyIdentifier(subjectPublicKeyBits))],
    },
    privateKey,
  );
  const certPem = encodePem('CERTIFICATE', der);
  const authority = loadSigningAuthority(certPem, privateKey, []);
  checkSignedCertificate(der, {
    issuer: authority.certificate,
    issuerPublicKey: publicKey,
    serialHex: serialHex(serial),
    publicKey,
    ...window,
    ca: true,
  });
  return { certPem, privateKey, chainPem: [] };
}

/**
 * Creates an intermediate CA signed by `parent`: fresh key, basicConstraints CA:TRUE
 * pathLen 0 critical (it may sign only leaves), keyUsage keyCertSign + cRLSign critical, SKI,
 * AKI = parent's SKI. Its validity is nested in the parent chain's. The result has already
 * been loaded with `loadSigningAuthority` against the parent's chain (sign-then-verify).
 *
 * @throws PkiError `CA_INVALID` (bad name, parent path length exhausted, parent expired,
 *   post-signing check failed), `TTL_INVALID`.
 */
export function createIntermediateCa(params: IntermediateCaParams): CreatedCa {
  const { parent } = params;
  if (parent.pathLen === 0) {
    throw new PkiError(
      'CA_INVALID',
      `parent CA "${(parent.certificate.subject ?? '').replace(/\n/g, ', ')}" has pathLenConstraint 0 and cannot sign another CA`,
    );
  }
  const subjectDer = caName(params.commonName, params.organization);
  const window = validityWindow({
    now: params.now,
    ttlSeconds: params.ttlSeconds,
    clockSkewSeconds: params.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    issuerValidFrom: parent.validFrom,
    issuerValidUntil: parent.validUntil,
  });
  const { publicKey, privateKey } = generateCaKey(params.keyType);
  const { spkiDer, subjectPublicKeyBits } = publicKeyInfo(publicKey);
  const serial = randomSerial();
  const der = signCertificate(
    {
      serial,
      signingAlgorithm: parent.signingAlgorithm,
      issuerDer: parent.subjectDer,
      subjectDer,
      ...window,
      spkiDer,
      extensions: [
        basicConstraints(true, 0),
        CA_KEY_USAGE,
        subjectKeyIdentifier(keyIdentifier(subjectPublicKeyBits)),
        authorityKeyIdentifier(parent.subjectKeyId),
      ],
    },
    parent.privateKey,
  );
  checkSignedCertificate(der, {
    issuer: parent.certificate,
    issuerPublicKey: parent.publicKey,
    serialHex: serialHex(serial),
    publicKey,
    ...window,
    ca: true,
  });
  const certPem = encodePem('CERTIFICATE', der);
  const chainPem = [parent.certPem, ...parent.chainPem];
  loadSigningAuthority(certPem, privateKey, chainPem);
  return { certPem, privateKey, chainPem };
}

function generateCaKey(keyType: CaKeyType): { publicKey: KeyObject; privateKey: KeyObject } {
  switch (keyType) {
    case 'rsa-2048':
      return generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    default:
      throw new PkiError(
        'CA_INVALID',
        `CA key type ${JSON.stringify(keyType)} is not supported; use "rsa-2048" or "ecdsa-p256"`,
      );
  }
}

/** Subject `O=<organization>, CN=<commonName>` (UTF8String values). */
function caName(commonName: string, organization: string | undefined): Buffer {
  const rdns = [];
  if (organization !== undefined)
    rdns.push(set(seq(oid(OID_ORGANIZATION), utf8String(checkNamePart('organization', organization)))));
  rdns.push(set(seq(oid(OID_COMMON_NAME), utf8String(checkNamePart('commonName', commonName)))));
  return seq(...rdns);
}

function checkNamePart(field: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value.length === 0 || value.length > 64 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new PkiError('CA_INVALID', `CA ${field} must be 1-64 printable characters, got ${JSON.stringify(value)}`);
  }
  return value;
}
