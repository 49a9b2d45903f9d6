import type { KeyObject } from 'node:crypto';
import { derNull, oid, seq } from './der';

/** A key libs/pki accepts: RSA of at least 2048 bits, or ECDSA on P-256 / P-384. */
export type KeyInfo =
  { readonly type: 'rsa'; readonly bits: number } | { readonly type: 'ec'; readonly curve: 'P-256' | 'P-384' };

/** Minimum RSA modulus, in bits. */
export const MIN_RSA_BITS = 2048;
/** RSA moduli above this are refused too: they make signature checks a denial-of-service lever. */
export const MAX_RSA_BITS = 8192;

const CURVES: Readonly<Record<string, 'P-256' | 'P-384'>> = { prime256v1: 'P-256', secp384r1: 'P-384' };

/**
 * Classifies a public or private key against the key policy. Returns the key's description,
 * or `{ rejected }` with a sentence saying why it is refused (the caller picks the error reason).
 */
export function classifyKey(key: KeyObject): KeyInfo | { readonly rejected: string } {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS)
      return { rejected: `RSA key of ${bits} bits is too weak; at least ${MIN_RSA_BITS} bits are required` };
    if (bits > MAX_RSA_BITS)
      return { rejected: `RSA key of ${bits} bits is larger than the supported maximum of ${MAX_RSA_BITS} bits` };
    const exponent = details.publicExponent;
    if (exponent !== undefined && (exponent < 3n || exponent % 2n === 0n)) {
      return { rejected: `RSA public exponent ${exponent} is invalid; it must be odd and at least 3` };
    }
    return { type: 'rsa', bits };
  }
  if (type === 'ec') {
    const curveName = details.namedCurve;
    const curve = curveName === undefined ? undefined : CURVES[curveName];
    if (curve) return { type: 'ec', curve };
    const shown = curveName ?? 'explicit (unnamed) parameters';
    return {
      rejected: `EC key on curve ${shown} is not allowed; only P-256 (prime256v1) and P-384 (secp384r1) are accepted`,
    };
  }
  return {
    rejected: `${type ?? 'unknown'} keys are not allowed; only RSA (at least ${MIN_RSA_BITS} bits) and ECDSA P-256/P-384 are accepted`,
  };
}

/** A key description for messages: `RSA-2048`, `EC P-256`. */
export function describeKey(info: KeyInfo): string {
  return info.type === 'rsa' ? `RSA-${info.bits}` : `EC ${info.curve}`;
}

/** A signature algorithm libs/pki can verify. */
export interface SignatureAlgorithm {
  readonly name: string;
  readonly oid: string;
  /** node:crypto digest name for `crypto.verify` / `crypto.sign`. */
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly keyType: 'rsa' | 'ec';
}

const RSA_PKCS1 = '1.2.840.113549.1.1';
const ECDSA = '1.2.840.10045.4.3';

const VERIFIABLE: readonly SignatureAlgorithm[] = [
  { name: 'sha256WithRSAEncryption', oid: `${RSA_PKCS1}.11`, hash: 'sha256', keyType: 'rsa' },
  { name: 'sha384WithRSAEncryption', oid: `${RSA_PKCS1}.12`, hash: 'sha384', keyType: 'rsa' },
  { name: 'sha512WithRSAEncryption', oid: `${RSA_PKCS1}.13`, hash: 'sha512', keyType: 'rsa' },
  { name: 'ecdsa-with-SHA256', oid: `${ECDSA}.2`, hash: 'sha256', keyType: 'ec' },
  { name: 'ecdsa-with-SHA384', oid: `${ECDSA}.3`, hash: 'sha384', keyType: 'ec' },
  { name: 'ecdsa-with-SHA512', oid: `${ECDSA}.4`, hash: 'sha512', keyType: 'ec' },
];

/** Names of algorithms we recognise but refuse, for precise messages. */
const REFUSED: Readonly<Record<string, string>> = {
  [`${RSA_PKCS1}.4`]: 'md5WithRSAEncryption',
  [`${RSA_PKCS1}.5`]: 'sha1WithRSAEncryption',
  [`${RSA_PKCS1}.10`]: 'RSASSA-PSS',
  [`${RSA_PKCS1}.14`]: 'sha224WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

const BY_OID = new Map(VERIFIABLE.map((alg) => [alg.oid, alg]));

/** The verifiable algorithm with this OID, or a description of why it is not supported. */
export function lookupSignatureAlgorithm(algOid: string): SignatureAlgorithm | { readonly unsupported: string } {
  const alg = BY_OID.get(algOid);
  if (alg) return alg;
  const known = REFUSED[algOid];
  return { unsupported: known ? `${known} (${algOid})` : `unknown algorithm ${algOid}` };
}

/** How a CA key signs: the algorithm and its encoded AlgorithmIdentifier (RFC 5758 / RFC 4055). */
export interface SigningAlgorithm extends SignatureAlgorithm {
  readonly algorithmIdentifierDer: Buffer;
}

/**
 * The signing algorithm for a CA key that passed `classifyKey`: RSA → sha256WithRSAEncryption
 * (NULL parameters), P-256 → ecdsa-with-SHA256, P-384 → ecdsa-with-SHA384 (parameters absent).
 */
export function signingAlgorithmFor(info: KeyInfo): SigningAlgorithm {
  const wanted = info.type === 'rsa' ? `${RSA_PKCS1}.11` : info.curve === 'P-256' ? `${ECDSA}.2` : `${ECDSA}.3`;
  const alg = BY_OID.get(wanted)!;
  const algorithmIdentifierDer = alg.keyType === 'rsa' ? seq(oid(alg.oid), derNull()) : seq(oid(alg.oid));
  return { ...alg, algorithmIdentifierDer };
}
