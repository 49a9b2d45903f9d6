import { status as GrpcStatus } from '@grpc/grpc-js';
import { BowlineError, defineErrorKind, type ErrorKind, type FieldProblem } from '#libs/errors';

/** Pilot's error taxonomy: each kind has one HTTP status and one gRPC code. */
export const PilotKinds = {
  XDS_REQUEST_INVALID: defineErrorKind(
    'XDS_REQUEST_INVALID',
    'Invalid discovery request',
    400,
    GrpcStatus.INVALID_ARGUMENT,
  ),
  NODE_INVALID: defineErrorKind('NODE_INVALID', 'Invalid xDS node', 400, GrpcStatus.INVALID_ARGUMENT),
  PROXY_NOT_FOUND: defineErrorKind('PROXY_NOT_FOUND', 'Proxy not connected', 404, GrpcStatus.NOT_FOUND),
} as const satisfies Record<string, ErrorKind>;

export type PilotErrorCode = keyof typeof PilotKinds;

export class PilotError extends BowlineError {
  constructor(code: PilotErrorCode, message: string, options?: { cause?: unknown; errors?: FieldProblem[] }) {
    super(PilotKinds[code], message, options?.errors ?? [], { cause: options?.cause });
  }
}
