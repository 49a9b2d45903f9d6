import type { AuthorizationResult } from '../dataplane/authorization';

/** Envoy's RBAC denial body (what Istio's sidecars answer). */
export const RBAC_DENIED = 'RBAC: access denied';

/** A denial: `status` and `body` answered, `reason` logged, `headers` added to the answer. */
export function deny(
  status: number,
  body: string,
  reason: string,
  headers?: Record<string, string>,
): AuthorizationResult {
  return { allowed: false, status, body, reason, ...(headers ? { headers } : {}) };
}
