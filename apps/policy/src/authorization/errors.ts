import { status as GrpcStatus } from '@grpc/grpc-js';
import { BowlineError, defineErrorKind, type ErrorKind } from '#libs/errors';

/** Failures of the Istio authorization API (beside the policy service's own taxonomy). */
export const AuthorizationKinds = {
  AUTHZ_NOT_READY: defineErrorKind('AUTHZ_NOT_READY', 'Istio authorization is not ready', 503, GrpcStatus.UNAVAILABLE),
} as const satisfies Record<string, ErrorKind>;

/**
 * The engine cannot decide yet: its module has not compiled, or no AuthorizationPolicy set has
 * been received from Galley (deciding with an empty set would allow everything).
 */
export class AuthorizationNotReady extends BowlineError {
  constructor(message: string) {
    super(AuthorizationKinds.AUTHZ_NOT_READY, message);
  }
}
