import { status as GrpcStatus } from '@grpc/grpc-js';

/** How one kind of failure is reported on each transport and in metrics. */
export interface ErrorKind {
  /** Stable machine name, also the metric label and the problem `type` suffix. */
  readonly code: string;
  readonly title: string;
  readonly httpStatus: number;
  readonly grpcStatus: GrpcStatus;
}

export function defineErrorKind(code: string, title: string, httpStatus: number, grpcStatus: GrpcStatus): ErrorKind {
  return Object.freeze({ code, title, httpStatus, grpcStatus });
}

/** The kinds every service shares; each app defines its own beside these (CSR_INVALID, ...). */
export const Kinds = {
  INVALID_ARGUMENT: defineErrorKind('INVALID_ARGUMENT', 'Invalid request', 400, GrpcStatus.INVALID_ARGUMENT),
  UNAUTHENTICATED: defineErrorKind('UNAUTHENTICATED', 'Authentication required', 401, GrpcStatus.UNAUTHENTICATED),
  PERMISSION_DENIED: defineErrorKind('PERMISSION_DENIED', 'Permission denied', 403, GrpcStatus.PERMISSION_DENIED),
  NOT_FOUND: defineErrorKind('NOT_FOUND', 'Not found', 404, GrpcStatus.NOT_FOUND),
  CONFLICT: defineErrorKind('CONFLICT', 'Conflict', 409, GrpcStatus.ABORTED),
  UNAVAILABLE: defineErrorKind('UNAVAILABLE', 'Service unavailable', 503, GrpcStatus.UNAVAILABLE),
  INTERNAL: defineErrorKind('INTERNAL', 'Internal error', 500, GrpcStatus.INTERNAL),
} as const;
