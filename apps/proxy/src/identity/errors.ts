import { status as GrpcStatus } from '@grpc/grpc-js';
import { BowlineError, defineErrorKind, type ErrorKind, type FieldProblem } from '#libs/errors';

/** The proxy's error taxonomy: each kind has one HTTP status (admin API) and one gRPC code. */
export const ProxyKinds = {
  CITADEL_UNAVAILABLE: defineErrorKind('CITADEL_UNAVAILABLE', 'Citadel unavailable', 503, GrpcStatus.UNAVAILABLE),
  CERTIFICATE_REFUSED: defineErrorKind(
    'CERTIFICATE_REFUSED',
    'Certificate request refused',
    502,
    GrpcStatus.FAILED_PRECONDITION,
  ),
  CERTIFICATE_INVALID: defineErrorKind('CERTIFICATE_INVALID', 'Issued certificate unusable', 502, GrpcStatus.INTERNAL),
  IDENTITY_STOPPED: defineErrorKind('IDENTITY_STOPPED', 'Workload identity stopped', 503, GrpcStatus.CANCELLED),
} as const satisfies Record<string, ErrorKind>;

export type ProxyErrorCode = keyof typeof ProxyKinds;

/** An error the proxy raises on purpose; `code` names its kind. */
export class ProxyError extends BowlineError {
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    options?: { cause?: unknown; errors?: FieldProblem[] },
  ) {
    super(ProxyKinds[code], message, options?.errors ?? [], { cause: options?.cause });
  }
}
