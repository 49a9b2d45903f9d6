import { status as GrpcStatus } from '@grpc/grpc-js';
import { BowlineError, defineErrorKind, type ErrorKind, type FieldProblem } from '#libs/errors';
import { isPkiError, type PkiError } from '#libs/pki';

/** Citadel's error taxonomy: each kind has one HTTP status and one gRPC code. */
export const CitadelKinds = {
  CSR_INVALID: defineErrorKind('CSR_INVALID', 'Invalid certificate signing request', 400, GrpcStatus.INVALID_ARGUMENT),
  KEY_WEAK: defineErrorKind('KEY_WEAK', 'Key not accepted', 400, GrpcStatus.INVALID_ARGUMENT),
  SAN_MISMATCH: defineErrorKind('SAN_MISMATCH', 'Identity mismatch', 403, GrpcStatus.PERMISSION_DENIED),
  TTL_INVALID: defineErrorKind('TTL_INVALID', 'Invalid validity period', 400, GrpcStatus.INVALID_ARGUMENT),
  IDENTITY_INVALID: defineErrorKind('IDENTITY_INVALID', 'Invalid identity', 400, GrpcStatus.INVALID_ARGUMENT),
  CA_NOT_READY: defineErrorKind('CA_NOT_READY', 'CA not ready', 503, GrpcStatus.UNAVAILABLE),
  CA_INVALID: defineErrorKind('CA_INVALID', 'CA material rejected', 400, GrpcStatus.FAILED_PRECONDITION),
  KEK_MISMATCH: defineErrorKind('KEK_MISMATCH', 'Wrong key-encryption key', 500, GrpcStatus.INTERNAL),
} as const satisfies Record<string, ErrorKind>;

export type CitadelErrorCode = keyof typeof CitadelKinds;

export class CitadelError extends BowlineError {
  constructor(code: CitadelErrorCode, message: string, options?: { cause?: unknown; errors?: FieldProblem[] }) {
    super(CitadelKinds[code], message, options?.errors ?? [], { cause: options?.cause });
  }
}

const PKI_TO_CITADEL: Record<PkiError['reason'], CitadelErrorCode> = {
  CSR_INVALID: 'CSR_INVALID',
  KEY_WEAK: 'KEY_WEAK',
  SAN_MISMATCH: 'SAN_MISMATCH',
  TTL_INVALID: 'TTL_INVALID',
  CA_INVALID: 'CA_INVALID',
  SPIFFE_ID_INVALID: 'IDENTITY_INVALID',
};

/** Maps a libs/pki failure to the Citadel kind the caller sees; anything else is rethrown. */
export function fromPkiError(error: unknown): never {
  if (isPkiError(error)) throw new CitadelError(PKI_TO_CITADEL[error.reason], error.message, { cause: error });
  throw error;
}
