import { randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { classifyKey, type SigningAlgorithm } from './algorithms';
import { bitString, contextTag, derNull, oid, seq, smallInteger, time, unsignedInteger } from './der';
import { PkiError } from './errors';

/** Everything that goes into one certificate's TBSCertificate. Internal to libs/pki. */
export interface CertificateTemplate {
  /** Unsigned big-endian magnitude; validated by `checkSerial`. */
  readonly serial: Buffer;
  readonly signingAlgorithm: SigningAlgorithm;
  readonly issuerDer: Buffer;
  readonly subjectDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spkiDer: Buffer;
  /** Encoded Extension SEQUENCEs, in order. */
  readonly extensions: readonly Buffer[];
}

/**
 * Builds the v3 TBSCertificate, signs its DER with `privateKey` and returns the Certificate
 * DER. The caller must verify the result (see `checkSignedCertificate`) before handing it out.
 */
export function signCertificate(template: CertificateTemplate, privateKey: KeyObject): Buffer {
  const algorithmId = template.signingAlgorithm.algorithmIdentifierDer;
  const tbs = seq(
    contextTag(0, true, smallInteger(2)), // v3
    unsignedInteger(template.serial),
    algorithmId,
    template.issuerDer,
    seq(time(template.notBefore), time(template.notAfter)),
    template.subjectDer,
    template.spkiDer,
    contextTag(3, true, seq(...template.extensions)),
  );
  const signature = sign(template.signingAlgorithm.hash, tbs, privateKey); // ECDSA: DER (r, s), as X.509 wants
  return seq(tbs, algorithmId, bitString(signature));
}

/** Default back-dating of notBefore, for workloads whose clocks run a little behind. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;

/** Serial size in bytes: 128 bits, with the top bit cleared so the INTEGER is positive. */
export const SERIAL_BYTES = 16;

/** A random, positive, non-zero serial of at most 128 bits (127 bits of entropy, CA/B BR >= 64). */
export function randomSerial(): Buffer {
  for (;;) {
    const serial = randomBytes(SERIAL_BYTES);
    serial[0]! &= 0x7f;
    if (serial.some((byte) => byte !== 0)) return serial;
  }
}

/**
 * Validates a caller-chosen serial (unsigned big-endian) per RFC 5280 4.1.2.2: non-zero and at
 * most 20 octets once encoded. Returns its canonical hex (see `serialHex`).
 *
 * @throws RangeError: a bad serial is a programming error, not a request error.
 */
export function checkSerial(serial: Buffer): string {
  const hex = serialHex(serial);
  const encodedLength = hex.length / 2 + (parseInt(hex.slice(0, 2), 16) >= 0x80 ? 1 : 0);
  if (hex === '00') throw new RangeError('serial must not be zero');
  if (encodedLength > 20) throw new RangeError(`serial encodes to ${encodedLength} octets; RFC 5280 allows at most 20`);
  return hex;
}

/** Uppercase hex without leading zero bytes, as node:crypto's `X509Certificate.serialNumber` prints it. */
export function serialHex(serial: Buffer): string {
  let i = 0;
  while (i < serial.length - 1 && serial[i] === 0) i++;
  return serial.length === 0 ? '00' : serial.subarray(i).toString('hex').toUpperCase();
}

const SPKI_ALGORITHMS = {
  rsa: seq(oid('1.2.840.113549.1.1.1'), derNull()),
  'P-256': seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7')),
  'P-384': seq(oid('1.2.840.10045.2.1'), oid('1.3.132.0.34')),
};

/**
 * A policy-conforming public key's SubjectPublicKeyInfo DER and subjectPublicKey bits (the
 * input of key identifiers). Built from the JWK export: with the OpenSSL 3.0 node:crypto uses
 * here, exporting DER costs ~150 µs per key and JWK ~5 µs, a fifth of the signing budget. The
 * signed certificate's key is then compared with `key` by OpenSSL (`checkSignedCertificate`),
 * so an encoding slip cannot go unnoticed.
 *
 * @throws RangeError for a key outside the key policy (callers check it first).
 */
export function publicKeyInfo(key: KeyObject): { spkiDer: Buffer; subjectPublicKeyBits: Buffer } {
  const info = classifyKey(key);
  if ('rejected' in info) throw new RangeError(info.rejected);
  const jwk = key.export({ format: 'jwk' });
  const b64 = (field: string | undefined): Buffer => Buffer.from(field ?? '', 'base64url');
  const subjectPublicKeyBits =
    info.type === 'rsa'
      ? seq(unsignedInteger(b64(jwk.n)), unsignedInteger(b64(jwk.e)))
      : Buffer.concat([Buffer.from([0x04]), b64(jwk.x), b64(jwk.y)]); // uncompressed point
  const algorithm = info.type === 'rsa' ? SPKI_ALGORITHMS.rsa : SPKI_ALGORITHMS[info.curve];
  return { spkiDer: seq(algorithm, bitString(subjectPublicKeyBits)), subjectPublicKeyBits };
}

/** Inputs of `validityWindow`. All instants are truncated to whole seconds (X.509 precision). */
export interface ValidityParams {
  readonly now: Date;
  readonly ttlSeconds: number;
  readonly clockSkewSeconds: number;
  /** The issuing chain's window: the result is always nested inside it. */
  readonly issuerValidFrom: Date;
  readonly issuerValidUntil: Date;
}

/**
 * `[max(now - skew, issuerValidFrom), min(now + ttl, issuerValidUntil)]`: back-dated for clock
 * skew, and never outside the issuer's window (a certificate never outlives its issuer).
 *
 * @throws PkiError `TTL_INVALID` for a non-positive or fractional TTL or a negative skew;
 *   `CA_INVALID` when the issuer is expired or not yet valid at `now`.
 */
export function validityWindow(params: ValidityParams): { notBefore: Date; notAfter: Date } {
  const { ttlSeconds, clockSkewSeconds } = params;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new PkiError('TTL_INVALID', `ttlSeconds must be a positive whole number of seconds, got ${ttlSeconds}`);
  }
  if (!Number.isSafeInteger(clockSkewSeconds) || clockSkewSeconds < 0) {
    throw new PkiError(
      'TTL_INVALID',
      `clockSkewSeconds must be a non-negative whole number of seconds, got ${clockSkewSeconds}`,
    );
  }
  const nowMs = params.now.getTime();
  if (!Number.isFinite(nowMs)) throw new RangeError('now is an invalid Date');
  const now = Math.floor(nowMs / 1000) * 1000;
  const from = params.issuerValidFrom.getTime();
  const until = params.issuerValidUntil.getTime();
  if (now >= until)
    throw new PkiError(
      'CA_INVALID',
      `issuing CA chain expired at ${params.issuerValidUntil.toISOString()}; cannot issue at ${new Date(now).toISOString()}`,
    );
  if (now < from)
    throw new PkiError(
      'CA_INVALID',
      `issuing CA chain is not valid until ${params.issuerValidFrom.toISOString()}; cannot issue at ${new Date(now).toISOString()}`,
    );
  const notBefore = new Date(Math.max(now - clockSkewSeconds * 1000, from));
  const notAfter = new Date(Math.min(now + ttlSeconds * 1000, until));
  return { notBefore, notAfter };
}

/** What a freshly signed certificate must look like. */
export interface ExpectedCertificate {
  readonly issuer: X509Certificate;
  readonly issuerPublicKey: KeyObject;
  readonly serialHex: string;
  /** The certified key; compared by OpenSSL (`KeyObject.equals`), independently of our encoding. */
  readonly publicKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly ca: boolean;
  /** The exact subjectAltName node:crypto must report, or undefined to skip. */
  readonly subjectAltName?: string;
}

/**
 * Sign-then-verify: parses `der` with node:crypto (OpenSSL), independently of how it was
 * built, and checks signature, issuer linkage, serial, key, CA flag, SAN and validity window.
 *
 * @throws PkiError `CA_INVALID` naming the first failed check; the certificate must not be used.
 */
export function checkSignedCertificate(der: Buffer, expected: ExpectedCertificate): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (error) {
    throw postCheck(`it does not parse (${(error as Error).message})`);
  }
  if (!cert.verify(expected.issuerPublicKey))
    throw postCheck("its signature does not verify with the issuer's public key");
  // node:crypto: `a.checkIssued(b)` asks whether a was issued by b.
  if (!cert.checkIssued(expected.issuer))
    throw postCheck('the issuer certificate does not match it as issuer (name, key identifier or key usage)');
  if (cert.serialNumber !== expected.serialHex)
    throw postCheck(`its serial ${cert.serialNumber} is not ${expected.serialHex}`);
  if (!cert.publicKey.equals(expected.publicKey)) throw postCheck('its public key is not the requested key');
  if (cert.ca !== expected.ca) throw postCheck(`its basicConstraints CA flag is ${cert.ca}, expected ${expected.ca}`);
  if (expected.subjectAltName !== undefined && cert.subjectAltName !== expected.subjectAltName) {
    throw postCheck(
      `its subjectAltName is ${JSON.stringify(cert.subjectAltName)}, expected ${JSON.stringify(expected.subjectAltName)}`,
    );
  }
  if (
    Date.parse(cert.validFrom) !== expected.notBefore.getTime() ||
    Date.parse(cert.validTo) !== expected.notAfter.getTime()
  ) {
    throw postCheck(
      `its validity ${cert.validFrom} - ${cert.validTo} is not ${expected.notBefore.toISOString()} - ${expected.notAfter.toISOString()}`,
    );
  }
  return cert;
}

function postCheck(what: string): PkiError {
  return new PkiError(
    'CA_INVALID',
    `the freshly signed certificate failed verification: ${what}; the CA key or certificate is unusable`,
  );
}
