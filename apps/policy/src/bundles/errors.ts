import { status as GrpcStatus } from '@grpc/grpc-js';
import { BowlineError, defineErrorKind, type ErrorKind } from '#libs/errors';

/** Failures of the proxy bundle API (beside the policy service's own taxonomy). */
export const BundleKinds = {
  BUNDLE_NOT_READY: defineErrorKind('BUNDLE_NOT_READY', 'Authorization bundle not ready', 503, GrpcStatus.UNAVAILABLE),
} as const satisfies Record<string, ErrorKind>;

/**
 * No bundle can be built yet: the Istio module has not compiled, or no AuthorizationPolicy set
 * has come from Galley (a bundle with an empty set would allow everything). Proxies retry.
 */
export class BundleNotReady extends BowlineError {
  constructor(message: string) {
    super(BundleKinds.BUNDLE_NOT_READY, message);
  }
}
