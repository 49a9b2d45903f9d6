import { X509Certificate, type KeyObject } from 'node:crypto';
import { classifyKey, signingAlgorithmFor, type KeyInfo, type SigningAlgorithm } from './algorithms';
import { DerError } from './der';
import { PkiError } from './errors';
import {
  ExtOid,
  KeyUsageBit,
  keyIdentifier,
  readBasicConstraints,
  readKeyUsage,
  readSubjectKeyIdentifier,
} from './extensions';
import { decodePemBlocks, encodePem } from './pem';
import { parseCertificateDer, type CertificateFields } from './x509';

declare const verified: unique symbol;

/**
 * A CA that passed `loadSigningAuthority`: its key matches its certificate, its certificate
 * may sign certificates, and its chain verifies up to a self-signed root. Only
 * `loadSigningAuthority` makes one (the brand field cannot be forged outside this module), so
 * holding a `SigningAuthority` is proof those checks ran. Immutable.
 */
export interface SigningAuthority {
  /** The CA certificate, canonical PEM. */
  readonly certPem: string;
  readonly privateKey: KeyObject;
  /** The CA certificate's issuers, canonical PEM: its issuer first, the self-signed root last; empty for a root CA. */
  readonly chainPem: readonly string[];
  readonly certificate: X509Certificate;
  readonly publicKey: KeyObject;
  /** The CA's subject Name, exact DER: copied as the issuer Name of what it signs. */
  readonly subjectDer: Buffer;
  /** Its subjectKeyIdentifier (or the RFC 5280 method (1) identifier when it has none): the AKI of what it signs. */
  readonly subjectKeyId: Buffer;
  /** basicConstraints pathLenConstraint; undefined when unlimited. */
  readonly pathLen: number | undefined;
  readonly key: KeyInfo;
  readonly signingAlgorithm: SigningAlgorithm;
  /** The CA certificate's own notBefore / notAfter. */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Latest notBefore over the CA certificate and its chain: nothing it signs starts earlier. */
  readonly validFrom: Date;
  /**
   * Earliest notAfter over the CA certificate and its chain: nothing it signs ends later (a
   * certificate never outlives any certificate of its chain).
   */
  readonly validUntil: Date;
  readonly [verified]: true;
}

interface LoadedCert {
  readonly where: string;
  readonly pem: string;
  readonly x509: X509Certificate;
  readonly fields: CertificateFields;
  readonly ca: boolean;
  readonly pathLen: number | undefined;
  readonly keyUsage: Set<number> | undefined;
}

/**
 * Validates plugged-in CA material (Istio `cacerts`: ca-cert.pem, ca-key.pem, cert-chain.pem)
 * and returns the authority that signs with it.
 *
 * `chainPem` holds one certificate per element, from the issuer of `certPem` up to the
 * self-signed root; it is empty when `certPem` is itself the root. An Istio-style chain that
 * starts with `certPem` itself is accepted (that first element is dropped). Use
 * `splitPemCertificates` to split a bundle file. Validity periods are checked at issuance
 * time, not here (this function has no clock).
 *
 * @throws PkiError `CA_INVALID` naming the first thing wrong, in this order: unparseable
 *   certificate, unusable private key, key/certificate mismatch, not a CA (basicConstraints),
 *   no keyCertSign, a chain link that does not verify, a path length exceeded, no self-signed root.
 */
export function loadSigningAuthority(
  certPem: string,
  privateKey: KeyObject,
  chainPem: readonly string[],
): SigningAuthority {
  const cert = loadCert(certPem, 'CA certificate');
  let chain = chainPem.map((pem, i) => loadCert(pem, `chainPem[${i}]`));
  if (chain[0]?.x509.raw.equals(cert.x509.raw)) chain = chain.slice(1);
  const key = checkPrivateKey(cert, privateKey);
  checkCanSign(cert);
  const path = [cert, ...chain];
  for (let i = 0; i + 1 < path.length; i++) checkLink(path[i]!, path[i + 1]!, i + 1);
  checkRoot(path[path.length - 1]!);
  const { fields } = cert;
  const ski = fields.extensions.get(ExtOid.SUBJECT_KEY_IDENTIFIER);
  const authority: Omit<SigningAuthority, typeof verified> = {
    certPem: cert.pem,
    privateKey,
    chainPem: Object.freeze(chain.map((c) => c.pem)),
    certificate: cert.x509,
    publicKey: cert.x509.publicKey,
    subjectDer: fields.subjectDer,
    subjectKeyId: ski
      ? decodeOrThrow(cert, 'subjectKeyIdentifier', () => readSubjectKeyIdentifier(ski.value))
      : keyIdentifier(fields.subjectPublicKeyBits),
    pathLen: cert.pathLen,
    key,
    signingAlgorithm: signingAlgorithmFor(key),
    notBefore: fields.notBefore,
    notAfter: fields.notAfter,
    validFrom: new Date(Math.max(...path.map((c) => c.fields.notBefore.getTime()))),
    validUntil: new Date(Math.min(...path.map((c) => c.fields.notAfter.getTime()))),
  };
  return Object.freeze(authority) as SigningAuthority;
}

function loadCert(pem: string, where: string): LoadedCert {
  let blocks;
  try {
    blocks = decodePemBlocks(typeof pem === 'string' ? pem : '');
  } catch (error) {
    throw new PkiError('CA_INVALID', `${where} is not valid PEM: ${(error as Error).message}`, { cause: error });
  }
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (certs.length !== 1) {
    throw new PkiError('CA_INVALID', `${where} must hold exactly one PEM CERTIFICATE, found ${certs.length}`);
  }
  const der = certs[0]!.der;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (error) {
    throw new PkiError('CA_INVALID', `${where} is not a valid X.509 certificate: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const partial = { where, pem: encodePem('CERTIFICATE', der), x509 } as LoadedCert;
  const fields = decodeOrThrow(partial, 'structure', () => parseCertificateDer(der));
  const bc = fields.extensions.get(ExtOid.BASIC_CONSTRAINTS);
  const ku = fields.extensions.get(ExtOid.KEY_USAGE);
  const constraints = bc
    ? decodeOrThrow(partial, 'basicConstraints', () => readBasicConstraints(bc.value))
    : { ca: false };
  const keyUsage = ku ? decodeOrThrow(partial, 'keyUsage', () => readKeyUsage(ku.value)) : undefined;
  return { ...partial, fields, ca: constraints.ca, pathLen: constraints.pathLen, keyUsage };
}

function checkPrivateKey(cert: LoadedCert, privateKey: KeyObject): KeyInfo {
  if (privateKey?.type !== 'private') throw new PkiError('CA_INVALID', 'CA private key is not a private KeyObject');
  const key = classifyKey(privateKey);
  if ('rejected' in key) throw new PkiError('CA_INVALID', `CA private key cannot sign: ${key.rejected}`);
  if (!cert.x509.checkPrivateKey(privateKey)) {
    throw new PkiError(
      'CA_INVALID',
      `CA private key does not match the public key of the CA certificate (${describe(cert)})`,
    );
  }
  return key;
}

function checkCanSign(cert: LoadedCert): void {
  if (cert.fields.version !== 2)
    throw new PkiError('CA_INVALID', `${cert.where} (${describe(cert)}) is not an X.509 v3 certificate`);
  if (!cert.ca)
    throw new PkiError(
      'CA_INVALID',
      `${cert.where} (${describe(cert)}) is not a CA: basicConstraints CA:TRUE is missing`,
    );
  if (!cert.keyUsage)
    throw new PkiError(
      'CA_INVALID',
      `${cert.where} (${describe(cert)}) has no keyUsage extension; keyCertSign is required`,
    );
  if (!cert.keyUsage.has(KeyUsageBit.keyCertSign)) {
    throw new PkiError('CA_INVALID', `${cert.where} (${describe(cert)}) keyUsage lacks keyCertSign`);
  }
}

/** `parent` must have issued `child`; `depth` CA certificates (child included) sit below `parent`. */
function checkLink(child: LoadedCert, parent: LoadedCert, depth: number): void {
  const link = `${parent.where} (${describe(parent)}) did not issue ${child.where} (${describe(child)})`;
  // node:crypto: `a.checkIssued(b)` asks whether a was issued by b (names, key identifiers, key usage).
  if (!child.x509.checkIssued(parent.x509)) throw new PkiError('CA_INVALID', `${link}: ${whyNotIssued(child, parent)}`);
  if (!child.x509.verify(parent.x509.publicKey))
    throw new PkiError('CA_INVALID', `${link}: the signature does not verify with its key`);
  checkCanSign(parent);
  if (parent.pathLen !== undefined && parent.pathLen < depth) {
    throw new PkiError(
      'CA_INVALID',
      `${parent.where} (${describe(parent)}) has pathLenConstraint ${parent.pathLen} but ${depth} CA certificate(s) chain below it`,
    );
  }
}

function whyNotIssued(child: LoadedCert, parent: LoadedCert): string {
  if (oneLine(child.x509.issuer) !== oneLine(parent.x509.subject))
    return `its issuer name "${oneLine(child.x509.issuer)}" is not the subject name`;
  const aki = child.fields.extensions.get(ExtOid.AUTHORITY_KEY_IDENTIFIER);
  const ski = parent.fields.extensions.get(ExtOid.SUBJECT_KEY_IDENTIFIER);
  const keyId = ski
    ? decodeOrThrow(parent, 'subjectKeyIdentifier', () => readSubjectKeyIdentifier(ski.value))
    : undefined;
  // Diagnosis only (the decision was OpenSSL's): the AKI's keyIdentifier bytes should be the SKI.
  if (aki && keyId && !aki.value.includes(keyId))
    return 'its authority key identifier is not the subject key identifier';
  if (parent.keyUsage && !parent.keyUsage.has(KeyUsageBit.keyCertSign)) return 'the issuer keyUsage lacks keyCertSign';
  return 'OpenSSL does not match them as issuer and subject';
}

function checkRoot(root: LoadedCert): void {
  const selfSigned = root.x509.checkIssued(root.x509) && root.x509.verify(root.x509.publicKey);
  if (!selfSigned) {
    throw new PkiError(
      'CA_INVALID',
      `${root.where} (${describe(root)}) is the last certificate but is not a self-signed root; chainPem must end at the root`,
    );
  }
}

function decodeOrThrow<T>(cert: Pick<LoadedCert, 'where'>, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
    throw new PkiError('CA_INVALID', `${cert.where} has a malformed ${what}: ${error.message}`, { cause: error });
  }
}

function describe(cert: LoadedCert): string {
  return `subject "${oneLine(cert.x509.subject) || '(empty)'}", serial ${cert.x509.serialNumber}`;
}

/** node:crypto reports an empty Name as undefined, and RDNs one per line. */
function oneLine(name: string | undefined): string {
  return (name ?? '').replace(/\n/g, ', ');
}
