import { status as GrpcStatus } from '@grpc/grpc-js';
import { BowlineError, defineErrorKind, type ErrorKind, type FieldProblem } from '#libs/errors';

/** Galley's error taxonomy: each kind has one HTTP status and one gRPC code. */
export const GalleyKinds = {
  RESOURCE_INVALID: defineErrorKind('RESOURCE_INVALID', 'Invalid resource', 400, GrpcStatus.INVALID_ARGUMENT),
  DOCUMENT_MALFORMED: defineErrorKind('DOCUMENT_MALFORMED', 'Malformed document', 400, GrpcStatus.INVALID_ARGUMENT),
  UNSUPPORTED_MEDIA_TYPE: defineErrorKind(
    'UNSUPPORTED_MEDIA_TYPE',
    'Unsupported media type',
    415,
    GrpcStatus.INVALID_ARGUMENT,
  ),
  RESOURCE_NOT_FOUND: defineErrorKind('RESOURCE_NOT_FOUND', 'Resource not found', 404, GrpcStatus.NOT_FOUND),
  VERSION_CONFLICT: defineErrorKind('VERSION_CONFLICT', 'Resource version conflict', 409, GrpcStatus.ABORTED),
  HISTORY_EXPIRED: defineErrorKind(
    'HISTORY_EXPIRED',
    'Version older than the retained history',
    410,
    GrpcStatus.FAILED_PRECONDITION,
  ),
} as const satisfies Record<string, ErrorKind>;

export type GalleyErrorCode = keyof typeof GalleyKinds;

/**
 * A problem with one document of an apply request: the field path plus which document it is
 * (index in the request, kind, namespace, name) so a user finds it in a long YAML stream.
 */
export interface DocumentProblem extends FieldProblem {
  readonly document: number;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** For YAML input: where the offending node starts (1-based). */
  readonly line?: number;
  readonly column?: number;
  /** Set for malformed input that has no field path (e.g. a YAML syntax error). */
  readonly source?: string;
}

export class GalleyError extends BowlineError {
  constructor(code: GalleyErrorCode, message: string, options?: { cause?: unknown; errors?: FieldProblem[] }) {
    super(GalleyKinds[code], message, options?.errors ?? [], { cause: options?.cause });
  }
}

/** The one-line summary of a problem list, for `detail`. */
export function summarise(problems: readonly DocumentProblem[], limit = 5): string {
  const shown = problems.slice(0, limit).map((p) => {
    const where = p.kind ? ` (${p.kind} ${p.namespace ?? 'default'}/${p.name ?? '?'})` : '';
    return `document ${p.document}${where}${p.path ? ` ${p.path}` : ''}: ${p.message}`;
  });
  const more = problems.length > limit ? `; and ${problems.length - limit} more` : '';
  return shown.join('; ') + more;
}
