import type { ErrorKind } from './kinds';

/** One problem with a request field, named by its path (`spec.rules[0].to[1]`). */
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * The only error type services throw on purpose. `message` is what the caller sees, so it
 * must help them and leak nothing; `cause` is for the log only.
 */
export class BowlineError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly errors: readonly FieldProblem[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = `BowlineError(${kind.code})`;
  }
}
