/**
 * Injection tokens of the proxy admin API (`ProxyAdminModule.forRoot` provides them all).
 */

/** The proxy's `IdentitySource` (identity/types.ts). */
export const PROXY_IDENTITY = Symbol('PROXY_IDENTITY');

/** The proxy's `MeshConfigSource` (mesh/model.ts). */
export const PROXY_MESH = Symbol('PROXY_MESH');

/** The proxy's `IstioMetrics` (telemetry/istio-metrics.ts). */
export const PROXY_METRICS = Symbol('PROXY_METRICS');

/** The admin token's SHA-256 digest (`AdminTokenDigest`); the token itself is not kept. */
export const PROXY_ADMIN_TOKEN = Symbol('PROXY_ADMIN_TOKEN');

/** Optional hooks (`ProxyAdminHooks`): extra state for /config_dump, identity rotation. */
export const PROXY_ADMIN_HOOKS = Symbol('PROXY_ADMIN_HOOKS');

/** What the app may plug into the admin API beyond the sources. */
export interface ProxyAdminHooks {
  /** Extra state shown under `bowline.extra` in /config_dump (listener ports, pool sizes...). */
  readonly extra?: () => Record<string, unknown>;
  /** Rotates the workload certificate now (`POST /rotate`); absent: the route answers 404. */
  readonly rotate?: () => Promise<void>;
  /** What else must be in place before /ready says 200 (reasons; empty when nothing is missing). */
  readonly pending?: () => readonly string[];
}
