import { sign } from 'node:crypto';
import type { SigningAuthority } from './authority';
import { bitString, contextTag, seq, smallInteger, tlv, time, unsignedInteger } from './der';
import { authorityKeyIdentifier, extension } from './extensions';
import { encodePem } from './pem';

/** RFC 5280 5.3.1 CRLReason codes. */
export const CRL_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
} as const;
export type CrlReason = keyof typeof CRL_REASONS;

export interface RevokedEntry {
  /** Uppercase hex, as `X509Certificate.serialNumber` prints it. */
  readonly serialHex: string;
  readonly revokedAt: Date;
  readonly reason: CrlReason;
}

export interface CrlParams {
  readonly issuer: SigningAuthority;
  readonly revoked: readonly RevokedEntry[];
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** Monotonically increasing CRL number (RFC 5280 5.2.3), >= 0. */
  readonly crlNumber: bigint;
}

const CRL_NUMBER = '2.5.29.20';
const REASON_CODE = '2.5.29.21';
const ENUMERATED = 0x0a;

/**
 * A v2 CRL signed by `issuer` (with authorityKeyIdentifier and cRLNumber), DER and PEM, the
 * form `openssl crl -CAfile` verifies. Entries carry their revocation date and reason.
 */
export function createCrl(params: CrlParams): { der: Buffer; pem: string } {
  const algorithmId = params.issuer.signingAlgorithm.algorithmIdentifierDer;
  const entries = params.revoked.map((entry) =>
    seq(
      unsignedInteger(serialBytes(entry.serialHex)),
      time(entry.revokedAt),
      seq(extension(REASON_CODE, false, tlv(ENUMERATED, Buffer.from([CRL_REASONS[entry.reason]])))),
    ),
  );
  const tbs = seq(
    smallInteger(1), // v2
    algorithmId,
    params.issuer.subjectDer,
    time(params.thisUpdate),
    time(params.nextUpdate),
    ...(entries.length > 0 ? [seq(...entries)] : []),
    contextTag(
      0,
      true,
      seq(
        authorityKeyIdentifier(params.issuer.subjectKeyId),
        extension(CRL_NUMBER, false, unsignedInteger(bigintBytes(params.crlNumber))),
      ),
    ),
  );
  const signature = sign(params.issuer.signingAlgorithm.hash, tbs, params.issuer.privateKey);
  const der = seq(tbs, algorithmId, bitString(signature));
  return { der, pem: encodePem('X509 CRL', der) };
}

function serialBytes(hex: string): Buffer {
  const even = hex.length % 2 === 0 ? hex : `0${hex}`;
  if (!/^[0-9A-Fa-f]+$/.test(even)) throw new RangeError(`not a hex serial: ${hex}`);
  return Buffer.from(even, 'hex');
}

function bigintBytes(value: bigint): Buffer {
  if (value < 0n) throw new RangeError('CRL number must be >= 0');
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}
