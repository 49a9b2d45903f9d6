/**
 * The proxy's view of the mesh: what xDS (or a static bootstrap file) told it, translated once
 * into plain immutable objects the request path reads without further parsing. A new
 * `MeshConfig` replaces the old one atomically; in-flight requests keep the one they started with.
 */

/** A string matcher (Envoy's StringMatcher / Istio's StringMatch). */
export type StringMatcher =
  | { readonly exact: string; readonly ignoreCase?: boolean }
  | { readonly prefix: string; readonly ignoreCase?: boolean }
  /** Tested with `RegExp.test`; Envoy's full-match regexes (`safe_regex`) arrive anchored (`^(?:…)$`). */
  | { readonly regex: RegExp };

export interface HeaderMatcher {
  /** Lower-case header name (`:method` and `:authority` are allowed, as in Envoy). */
  readonly name: string;
  /** Unset: the header must be present. */
  readonly match?: StringMatcher;
  readonly invert?: boolean;
  /** A missing header is matched as the empty string (Envoy's treat_missing_header_as_empty). */
  readonly treatMissingAsEmpty?: boolean;
}

/** A query parameter matcher (Envoy's QueryParameterMatcher). */
export interface QueryParameterMatcher {
  /** The parameter's name, as written (case-sensitive). */
  readonly name: string;
  /** Unset: the parameter must be present. */
  readonly match?: StringMatcher;
}

export interface RouteMatch {
  /**
   * Exactly one of path / prefix / regex applies to the path without its query. `regex` is
   * anchored (Envoy's `safe_regex` matches the whole path) and ignores `caseSensitive`.
   */
  readonly path?: string;
  readonly prefix?: string;
  readonly regex?: RegExp;
  readonly caseSensitive: boolean;
  readonly headers: readonly HeaderMatcher[];
  /** Every one must match the request's query (Istio `queryParams`); unset = none. */
  readonly queryParameters?: readonly QueryParameterMatcher[];
}

export interface WeightedCluster {
  readonly cluster: string;
  readonly weight: number;
}

/** Envoy's retry_on conditions (HTTP, then gRPC ones, which look at `grpc-status`). */
export type RetryOn =
  | '5xx'
  | 'gateway-error'
  | 'connect-failure'
  | 'reset'
  | 'refused-stream'
  | 'retriable-4xx'
  | 'reset-before-request'
  | 'envoy-ratelimited'
  | 'retriable-status-codes'
  | 'retriable-headers'
  | 'http3-post-connect-failure'
  | 'cancelled'
  | 'deadline-exceeded'
  | 'internal'
  | 'resource-exhausted'
  | 'unavailable';

export interface RetryPolicy {
  /** Retries after the first attempt (Istio `attempts`). */
  readonly numRetries: number;
  /** Per-attempt timeout, ms; 0 = the route timeout only. */
  readonly perTryTimeoutMs: number;
  readonly retryOn: ReadonlySet<RetryOn>;
  /** Statuses `retriable-status-codes` retries (Envoy's retriable_status_codes). */
  readonly retriableStatusCodes?: ReadonlySet<number>;
  /** Retry on another host than the ones tried (Envoy's previous_hosts predicate, Istio's default). */
  readonly avoidPreviousHosts?: boolean;
}

export interface FaultPolicy {
  readonly delay?: { readonly fixedDelayMs: number; readonly percent: number };
  /** With `grpcStatus`, a gRPC abort: HTTP 200 with that `grpc-status` (httpStatus is then 200). */
  readonly abort?: { readonly httpStatus: number; readonly percent: number; readonly grpcStatus?: number };
}

export interface Route {
  /** Name for logs and /config_dump (`ns/vs[index]` from Pilot). */
  readonly name: string;
  readonly match: RouteMatch;
  /** One or more destinations; weights sum to > 0. */
  readonly clusters: readonly WeightedCluster[];
  /** Replaces the matched prefix (or the whole path for an exact match). */
  readonly prefixRewrite?: string;
  /** Replaces every match of `pattern` in the path (not the query) with `substitution` (`$1` groups). */
  readonly regexRewrite?: { readonly pattern: RegExp; readonly substitution: string };
  readonly hostRewrite?: string;
  /** Whole-request timeout, ms; 0 = none. */
  readonly timeoutMs: number;
  readonly retry?: RetryPolicy;
  readonly fault?: FaultPolicy;
}

export interface VirtualHost {
  readonly name: string;
  /** Lower-case domains, with or without `:port`; `*` matches anything. */
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
}

/** An outbound service the local app can call: `host:port` → its routes. */
export interface OutboundListener {
  /** `reviews.default.svc.cluster.local:9080` (the xDS listener name). */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly routeConfigName: string;
}

export interface RouteConfiguration {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
}

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM';

export interface OutlierDetection {
  /** 5xx responses or local failures (connect failure, reset) in a row that eject a host; 0 = never. */
  readonly consecutive5xx: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
  /** Cap of one ejection's duration, ms (Envoy's `max_ejection_time`, default 300 s). */
  readonly maxEjectionTimeMs?: number;
}

export interface ConnectionPoolLimits {
  /** Most upstream connections at once (HTTP/1.1) for the cluster. */
  readonly maxConnections: number;
  /** Most requests waiting for a connection. */
  readonly maxPendingRequests: number;
  /** Most requests in flight at once. */
  readonly maxRequests: number;
}

/** How to talk TLS to endpoints of a cluster that have a sidecar (Istio's ISTIO_MUTUAL). */
export interface UpstreamTls {
  /** SNI Istio uses: `outbound_.<port>_.<subset>_.<host>`. */
  readonly sni: string;
  /** SPIFFE IDs the server may present; empty = any identity of our trust domain. */
  readonly expectedSans: readonly string[];
}

export interface Cluster {
  /** `outbound|<port>|<subset>|<host>`. */
  readonly name: string;
  readonly lbPolicy: LbPolicy;
  readonly connectTimeoutMs: number;
  readonly limits: ConnectionPoolLimits;
  readonly outlier?: OutlierDetection;
  /** Set when endpoints marked `mtls` are to be reached over mTLS. */
  readonly tls?: UpstreamTls;
  /** Speak HTTP/2 (h2 over TLS, h2c in plaintext) to the upstream regardless of the downstream. */
  readonly http2: boolean;
  /**
   * Envoy's `common_lb_config.healthy_panic_threshold` (percent, default 50): below this share of
   * non-ejected hosts the load balancer uses every host; 0 = never (no host → no pick).
   */
  readonly healthyPanicThresholdPercent?: number;
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** The endpoint has a sidecar (Istio's `tlsMode: istio`): use the cluster's `tls`. */
  readonly mtls: boolean;
}

/** PeerAuthentication as the inbound listener applies it. */
export type PeerAuthenticationMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface InboundPolicy {
  /** Mode for ports without a port-level setting. */
  readonly defaultMode: PeerAuthenticationMode;
  /** Port-level modes, keyed by the service (SNI) port or the app port. */
  readonly portModes: ReadonlyMap<number, PeerAuthenticationMode>;
}

export interface MeshConfig {
  /** A version string per xDS type (for /config_dump and logs). */
  readonly versions: Readonly<Record<'listeners' | 'routes' | 'clusters' | 'endpoints', string>>;
  readonly listeners: ReadonlyMap<string, OutboundListener>;
  readonly routes: ReadonlyMap<string, RouteConfiguration>;
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  readonly inbound: InboundPolicy;
  /** The raw resources as received, by type and name, for /config_dump. */
  readonly raw: Readonly<Record<string, readonly unknown[]>>;
}

/** Defaults Envoy applies when a cluster leaves them unset. */
export const DEFAULT_LIMITS: ConnectionPoolLimits = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
};

export const EMPTY_MESH_CONFIG: MeshConfig = {
  versions: { listeners: '', routes: '', clusters: '', endpoints: '' },
  listeners: new Map(),
  routes: new Map(),
  clusters: new Map(),
  endpoints: new Map(),
  inbound: { defaultMode: 'PERMISSIVE', portModes: new Map() },
  raw: {},
};

/** Read side of the config store that the data plane and the admin API depend on. */
export interface MeshConfigSource {
  /** Undefined until a first config arrived (from Pilot or the bootstrap file). */
  current(): MeshConfig | undefined;
  onChange(listener: (config: MeshConfig) => void): () => void;
  /** Pilot stream state for /ready and /config_dump. */
  status(): {
    readonly source: 'pilot' | 'bootstrap' | 'none';
    readonly connected: boolean;
    readonly lastError?: string;
  };
}
