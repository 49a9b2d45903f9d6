import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { classifyKey, describeKey, lookupSignatureAlgorithm, type KeyInfo } from './algorithms';
import {
  children,
  content,
  DerError,
  expectTag,
  raw,
  readBitString,
  readOid,
  readRoot,
  readSmallInteger,
  Tag,
  type DerNode,
} from './der';
import { PkiError } from './errors';
import { decodePemBlocks } from './pem';

/** A PKCS#10 request whose signature verified and whose key passed the key policy. */
export interface ParsedCsr {
  /** The requester's public key; the CSR's signature verified with it (proof of possession). */
  readonly publicKey: KeyObject;
  /** `publicKey` as SubjectPublicKeyInfo DER, byte-for-byte as it appeared in the CSR. */
  readonly publicKeyDer: Buffer;
  /** Key type and size/curve; always acceptable (RSA >= 2048, EC P-256/P-384). */
  readonly key: KeyInfo;
  /** The signature algorithm the CSR was signed with, e.g. `ecdsa-with-SHA256`. */
  readonly signatureAlgorithm: string;
  /** URI SANs requested in the extensionRequest attribute, in order (may be empty). */
  readonly uriSans: readonly string[];
  /** DNS SANs requested in the extensionRequest attribute, in order (may be empty). */
  readonly dnsSans: readonly string[];
  /** The requested subject Name, DER. Informational: issuance never copies it. */
  readonly subjectDer: Buffer;
}

/** Largest CSR PEM accepted, in characters; real CSRs are 0.5-2 KiB. */
export const MAX_CSR_PEM_LENGTH = 64 * 1024;

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const EC_CURVES: Readonly<Record<string, string>> = {
  '1.2.840.10045.3.1.7': 'P-256',
  '1.3.132.0.34': 'P-384',
  '1.3.132.0.35': 'secp521r1 (P-521)',
  '1.3.132.0.10': 'secp256k1',
  '1.2.840.10045.3.1.1': 'prime192v1 (P-192)',
  '1.3.132.0.33': 'secp224r1 (P-224)',
};

/**
 * Parses and verifies a PEM PKCS#10 certificate signing request (RSA or ECDSA).
 *
 * Contract: returns only when the PEM holds exactly one CERTIFICATE REQUEST that is strict
 * DER, whose key passes the key policy, and whose signature verifies over the exact bytes of
 * its CertificationRequestInfo with its own key. Checks run in that order, so a weak key is
 * reported as `KEY_WEAK` even when its signature is also bad.
 *
 * @throws PkiError `CSR_INVALID` (malformed, unsupported signature algorithm, bad signature)
 *   or `KEY_WEAK` (RSA < 2048 bits, EC curve other than P-256/P-384, any other key type).
 */
export function parseCsr(pem: string): ParsedCsr {
  const der = decodeCsrPem(pem);
  try {
    return parseCsrDer(der);
  } catch (error) {
    if (error instanceof DerError)
      throw new PkiError('CSR_INVALID', `CSR is not a valid PKCS#10 request: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * Checks the CSR's requested URI SANs against the caller's authenticated SPIFFE ID. A CSR
 * with no URI SAN is fine (the certificate carries the authenticated identity anyway); a CSR
 * requesting any other URI is refused rather than silently rewritten.
 *
 * @throws PkiError `SAN_MISMATCH` naming the requested and the authenticated identity.
 */
export function checkCsrIdentity(params: { csr: ParsedCsr; spiffeId: string }): void {
  const other = params.csr.uriSans.find((uri) => uri !== params.spiffeId);
  if (other !== undefined) {
    const requested = params.csr.uriSans.map((uri) => JSON.stringify(uri)).join(', ');
    throw new PkiError(
      'SAN_MISMATCH',
      `CSR requests URI SAN ${requested} but the caller is authenticated as ${JSON.stringify(params.spiffeId)}`,
    );
  }
}

function decodeCsrPem(pem: string): Buffer {
  if (typeof pem !== 'string' || pem.trim().length === 0) throw new PkiError('CSR_INVALID', 'CSR is empty');
  if (pem.length > MAX_CSR_PEM_LENGTH)
    throw new PkiError('CSR_INVALID', `CSR is larger than ${MAX_CSR_PEM_LENGTH} characters`);
  let blocks;
  try {
    blocks = decodePemBlocks(pem);
  } catch (error) {
    throw new PkiError('CSR_INVALID', `CSR is not valid PEM: ${(error as Error).message}`, { cause: error });
  }
  const requests = blocks.filter((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
  if (requests.length === 0) {
    const found = blocks.length === 0 ? 'no PEM block' : `only ${blocks.map((b) => b.label).join(', ')}`;
    throw new PkiError('CSR_INVALID', `CSR is not PEM "-----BEGIN CERTIFICATE REQUEST-----": found ${found}`);
  }
  if (requests.length > 1)
    throw new PkiError('CSR_INVALID', `PEM holds ${requests.length} certificate requests; exactly one is expected`);
  return requests[0]!.der;
}

function parseCsrDer(der: Buffer): ParsedCsr {
  const [info, algorithm, signatureNode, ...extra] = children(readRoot(der, Tag.SEQUENCE));
  if (extra.length > 0) throw new DerError('CertificationRequest has more than 3 fields');
  const [version, subject, spki, attributes, ...rest] = children(
    expectTag(info, Tag.SEQUENCE, 'CertificationRequestInfo'),
  );
  if (rest.length > 0) throw new DerError('CertificationRequestInfo has more than 4 fields');
  if (readSmallInteger(expectTag(version, Tag.INTEGER, 'version')) !== 0) throw new DerError('version is not 0 (v1)');
  expectTag(subject, Tag.SEQUENCE, 'subject');
  const { publicKey, key } = readPublicKey(expectTag(spki, Tag.SEQUENCE, 'subjectPublicKeyInfo'));
  const sans =
    attributes === undefined ? { uris: [], dns: [] } : readRequestedSans(expectTag(attributes, 0xa0, 'attributes'));
  const signatureAlgorithm = verifySignature(info!, algorithm, signatureNode, publicKey, key);
  return {
    publicKey,
    publicKeyDer: Buffer.from(raw(spki!)),
    key,
    signatureAlgorithm,
    uriSans: sans.uris,
    dnsSans: sans.dns,
    subjectDer: Buffer.from(raw(subject!)),
  };
}

function readPublicKey(spki: DerNode): { publicKey: KeyObject; key: KeyInfo } {
  const [algorithm] = children(spki);
  const [algOid, params] = children(expectTag(algorithm, Tag.SEQUENCE, 'subjectPublicKeyInfo algorithm'));
  const keyAlg = readOid(expectTag(algOid, Tag.OID, 'public key algorithm'));
  if (keyAlg === OID_EC_PUBLIC_KEY) {
    if (params?.tag !== Tag.OID)
      throw new PkiError(
        'KEY_WEAK',
        'CSR key is EC with explicit or missing curve parameters; only named curves P-256 and P-384 are accepted',
      );
    const curveOid = readOid(params);
    const curve = EC_CURVES[curveOid] ?? `OID ${curveOid}`;
    if (curve !== 'P-256' && curve !== 'P-384') {
      throw new PkiError('KEY_WEAK', `CSR key is EC on curve ${curve}; only P-256 and P-384 are accepted`);
    }
  } else if (keyAlg !== OID_RSA_ENCRYPTION) {
    const name =
      keyAlg === '1.3.101.112'
        ? 'Ed25519'
        : keyAlg === '1.3.101.113'
          ? 'Ed448'
          : keyAlg === '1.2.840.113549.1.1.10'
            ? 'RSA-PSS'
            : `OID ${keyAlg}`;
    throw new PkiError(
      'KEY_WEAK',
      `CSR key type ${name} is not accepted; use RSA (at least 2048 bits) or ECDSA P-256/P-384`,
    );
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: raw(spki), format: 'der', type: 'spki' });
  } catch (error) {
    throw new PkiError('CSR_INVALID', `CSR public key cannot be decoded: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const key = classifyKey(publicKey);
  if ('rejected' in key) throw new PkiError('KEY_WEAK', `CSR key rejected: ${key.rejected}`);
  return { publicKey, key };
}

function verifySignature(
  info: DerNode,
  algorithm: DerNode | undefined,
  signatureNode: DerNode | undefined,
  publicKey: KeyObject,
  key: KeyInfo,
): string {
  const [algOid, params, ...more] = children(expectTag(algorithm, Tag.SEQUENCE, 'signatureAlgorithm'));
  const alg = lookupSignatureAlgorithm(readOid(expectTag(algOid, Tag.OID, 'signature algorithm')));
  if ('unsupported' in alg)
    throw new PkiError('CSR_INVALID', `CSR signature algorithm ${alg.unsupported} is not supported`);
  const paramsOk =
    more.length === 0 &&
    (alg.keyType === 'rsa'
      ? params === undefined || (params.tag === Tag.NULL && params.end === params.contentStart)
      : params === undefined);
  if (!paramsOk) throw new DerError(`unexpected parameters for ${alg.name}`);
  if (alg.keyType !== key.type) {
    throw new PkiError('CSR_INVALID', `CSR is signed with ${alg.name} but its key is ${describeKey(key)}`);
  }
  const { bytes: signature } = readBitString(expectTag(signatureNode, Tag.BIT_STRING, 'signature'));
  let ok = false;
  try {
    ok = verify(alg.hash, raw(info), publicKey, signature);
  } catch {
    ok = false; // e.g. an ECDSA signature that is not a DER SEQUENCE of two INTEGERs
  }
  if (!ok)
    throw new PkiError(
      'CSR_INVALID',
      `CSR signature (${alg.name}) does not verify with the CSR's own public key; the request was altered or not signed by that key`,
    );
  return alg.name;
}

function readRequestedSans(attributes: DerNode): { uris: string[]; dns: string[] } {
  const sans = { uris: [] as string[], dns: [] as string[] };
  let seenExtensionRequest = false;
  for (const attribute of children(attributes)) {
    const [type, values] = children(expectTag(attribute, Tag.SEQUENCE, 'attribute'));
    if (readOid(expectTag(type, Tag.OID, 'attribute type')) !== OID_EXTENSION_REQUEST) continue;
    if (seenExtensionRequest) throw new DerError('more than one extensionRequest attribute');
    seenExtensionRequest = true;
    const valueList = children(expectTag(values, Tag.SET, 'extensionRequest values'));
    if (valueList.length !== 1) throw new DerError('extensionRequest must have exactly one value');
    let seenSan = false;
    for (const extension of children(expectTag(valueList[0], Tag.SEQUENCE, 'extensionRequest'))) {
      const fields = children(expectTag(extension, Tag.SEQUENCE, 'requested extension'));
      if (readOid(expectTag(fields[0], Tag.OID, 'extension id')) !== OID_SUBJECT_ALT_NAME) continue;
      if (seenSan) throw new DerError('subjectAltName requested twice');
      seenSan = true;
      const value = expectTag(fields[fields.length - 1], Tag.OCTET_STRING, 'subjectAltName value');
      readGeneralNames(content(value), sans);
    }
  }
  return sans;
}

function readGeneralNames(der: Buffer, into: { uris: string[]; dns: string[] }): void {
  for (const name of children(readRoot(der, Tag.SEQUENCE))) {
    if (name.tag !== 0x86 && name.tag !== 0x82) continue; // only uniformResourceIdentifier [6] and dNSName [2]
    const value = content(name);
    if (value.some((byte) => byte < 0x20 || byte > 0x7e)) throw new DerError('SAN is not printable IA5String (ASCII)');
    (name.tag === 0x86 ? into.uris : into.dns).push(value.toString('ascii'));
  }
}
