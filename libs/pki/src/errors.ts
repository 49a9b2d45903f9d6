/**
 * Why a PKI operation was refused. Stable machine codes: callers map them to transport
 * statuses (all but `CA_INVALID` are the caller's fault; `CA_INVALID` is the operator's).
 *
 * - `CSR_INVALID`: the CSR is not PEM, not DER, not a PKCS#10 request, uses an unsupported
 *   signature algorithm, or its signature does not verify with its own public key.
 * - `KEY_WEAK`: the CSR's key is RSA below 2048 bits, EC on a curve other than P-256/P-384,
 *   or another key type (Ed25519, DSA, RSA-PSS, ...).
 * - `SAN_MISMATCH`: the CSR asks for a URI SAN other than the caller's authenticated identity.
 * - `SPIFFE_ID_INVALID`: a SPIFFE ID is not `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`.
 * - `TTL_INVALID`: a lifetime or clock-skew allowance is not a positive whole number of seconds.
 * - `CA_INVALID`: the CA material (certificate, key, chain) cannot sign, or a CA cannot issue
 *   now (expired, not yet valid, path length exhausted).
 */
export type PkiErrorReason =
  'CSR_INVALID' | 'KEY_WEAK' | 'SAN_MISMATCH' | 'SPIFFE_ID_INVALID' | 'TTL_INVALID' | 'CA_INVALID';

/** All reasons, for exhaustive mapping tables. */
export const PKI_ERROR_REASONS: readonly PkiErrorReason[] = Object.freeze([
  'CSR_INVALID',
  'KEY_WEAK',
  'SAN_MISMATCH',
  'SPIFFE_ID_INVALID',
  'TTL_INVALID',
  'CA_INVALID',
]);

/**
 * The only error libs/pki throws on purpose (programming errors such as a negative serial are
 * `RangeError`s). `message` is precise and safe to show to the caller: it names the offending
 * value (key size, curve, SAN, chain position) but never key material. `cause` is for logs.
 */
export class PkiError extends Error {
  constructor(
    readonly reason: PkiErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = `PkiError(${reason})`;
  }
}

/** True when `error` is a `PkiError`, optionally with the given reason. */
export function isPkiError(error: unknown, reason?: PkiErrorReason): error is PkiError {
  return error instanceof PkiError && (reason === undefined || error.reason === reason);
}
