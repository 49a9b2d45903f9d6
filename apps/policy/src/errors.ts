import { status as GrpcStatus } from '@grpc/grpc-js';
import { BowlineError, defineErrorKind, type ErrorKind, type FieldProblem } from '#libs/errors';

/** The policy service's error taxonomy: each kind has one HTTP status and one gRPC code. */
export const PolicyKinds = {
  POLICY_COMPILE: defineErrorKind('POLICY_COMPILE', 'Policy does not compile', 400, GrpcStatus.INVALID_ARGUMENT),
  POLICY_NOT_FOUND: defineErrorKind('POLICY_NOT_FOUND', 'Policy not found', 404, GrpcStatus.NOT_FOUND),
  REVISION_NOT_FOUND: defineErrorKind('REVISION_NOT_FOUND', 'Policy revision not found', 404, GrpcStatus.NOT_FOUND),
  POLICY_EXISTS: defineErrorKind('POLICY_EXISTS', 'Policy already exists', 409, GrpcStatus.ALREADY_EXISTS),
  POLICY_NOT_ACTIVE: defineErrorKind(
    'POLICY_NOT_ACTIVE',
    'Policy has no active revision',
    409,
    GrpcStatus.FAILED_PRECONDITION,
  ),
  INPUT_INVALID: defineErrorKind('INPUT_INVALID', 'Invalid policy input', 400, GrpcStatus.INVALID_ARGUMENT),
  COMPILER_UNAVAILABLE: defineErrorKind('COMPILER_UNAVAILABLE', 'Policy compiler failed', 503, GrpcStatus.UNAVAILABLE),
} as const satisfies Record<string, ErrorKind>;

export type PolicyErrorCode = keyof typeof PolicyKinds;

/**
 * A problem OPA reported: `code` is OPA's (`rego_parse_error`, `rego_type_error`,
 * `rego_unsafe_var_error`, ...), `file`/`row`/`col` locate it in the submitted modules.
 */
export interface RegoProblem extends FieldProblem {
  readonly code: string;
  readonly file?: string;
  readonly row?: number;
  readonly col?: number;
}

/** A policy service failure of one kind; `errors` are serialised into problem+json as given. */
export class PolicyError extends BowlineError {
  constructor(code: PolicyErrorCode, message: string, options?: { cause?: unknown; errors?: FieldProblem[] }) {
    super(PolicyKinds[code], message, options?.errors ?? [], { cause: options?.cause });
  }
}
