import { toStruct } from '#libs/proto';
import type { RegistrySnapshot } from '../registry/build-registry';
import type { MeshService, ServicePort } from '../registry/model';
import { cluster, type ClusterRef } from './clusters';
import { toDuration } from './durations';
import { type MeshOptions, workloadSpiffeId } from './mesh';
import { namespaceMtlsMode } from './peer-authentication';
import {
  type ClientTlsSettings,
  type ConnectionPoolSettings,
  effectiveTrafficPolicy,
  type OutlierDetectionSettings,
} from './traffic-policy';
import { type Pack, SIDECAR_TYPE_URLS } from './types';

/*
 * A sidecar's clusters: the proxyless cluster plus the DestinationRule's traffic policy and
 * Istio's auto mTLS, translated as Istio's Pilot does (pilot/pkg/networking/core/cluster_*.go).
 */

type Message = Record<string, unknown>;

const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** Istio's default circuit breaker limits: effectively none (Envoy's own default is 1024). */
const UNLIMITED = 4_294_967_295;
const HTTP2_PROTOCOLS = new Set(['GRPC', 'GRPC-WEB', 'HTTP2']);

/**
 * The Cluster a sidecar gets for `ref`: EDS as for proxyless clients, with the effective
 * DestinationRule traffic policy (load balancer, connection pool limits as circuit breakers,
 * HTTP/2, outlier detection) and upstream mTLS.
 */
export function sidecarCluster(
  name: string,
  ref: ClusterRef,
  snapshot: RegistrySnapshot,
  mesh: MeshOptions,
  pack: Pack,
): Message {
  const policy = effectiveTrafficPolicy(snapshot.destinationRules.get(ref.service.host), ref.subset, ref.port);
  const port = ref.service.ports.find((p) => p.number === ref.port);
  const out: Message = {
    ...cluster(name),
    lb_policy: lbPolicy(policy.loadBalancer?.simple),
    circuit_breakers: circuitBreakers(policy.connectionPool),
  };
  const connectTimeout = toDuration(policy.connectionPool?.tcp?.connectTimeout);
  if (connectTimeout) out.connect_timeout = connectTimeout;
  const options = httpProtocolOptions(port, policy.connectionPool);
  if (options)
    out.typed_extension_protocol_options = {
      [HTTP_PROTOCOL_OPTIONS]: pack(SIDECAR_TYPE_URLS.HTTP_PROTOCOL_OPTIONS, options),
    };
  if (policy.outlierDetection) {
    out.outlier_detection = outlierDetection(policy.outlierDetection);
    // Istio turns Envoy's panic threshold off with outlier detection (few endpoints per service).
    out.common_lb_config = {
      healthy_panic_threshold: { value: Math.max(0, policy.outlierDetection.minHealthPercent ?? 0) },
    };
  }
  return { ...out, ...upstreamTls(ref, policy.tls, snapshot, mesh, pack) };
}

/** Istio's `simple` load balancer: LEAST_REQUEST (LEAST_CONN) by default, ROUND_ROBIN, RANDOM. */
export function lbPolicy(simple: string | undefined): string {
  switch (simple) {
    case 'ROUND_ROBIN':
      return 'ROUND_ROBIN';
    case 'RANDOM':
      return 'RANDOM';
    default:
      return 'LEAST_REQUEST';
  }
}

/** Istio's connection pool limits as Envoy's default-priority thresholds; unset limits are unlimited. */
function circuitBreakers(pool: ConnectionPoolSettings | undefined): Message {
  const limit = (value: number | undefined) => ({ value: typeof value === 'number' && value > 0 ? value : UNLIMITED });
  return {
    thresholds: [
      {
        max_connections: limit(pool?.tcp?.maxConnections),
        max_pending_requests: limit(pool?.http?.http1MaxPendingRequests),
        max_requests: limit(pool?.http?.http2MaxRequests),
        max_retries: limit(pool?.http?.maxRetries),
        track_remaining: true,
      },
    ],
  };
}

/**
 * Upstream HTTP options: HTTP/2 for a GRPC / HTTP2 port or `h2UpgradePolicy: UPGRADE`; idle
 * timeout and requests per connection from the connection pool. Undefined when none applies.
 */
function httpProtocolOptions(
  port: ServicePort | undefined,
  pool: ConnectionPoolSettings | undefined,
): Message | undefined {
  const http2 = HTTP2_PROTOCOLS.has((port?.protocol ?? '').toUpperCase()) || pool?.http?.h2UpgradePolicy === 'UPGRADE';
  const common: Message = {};
  const idleTimeout = toDuration(pool?.http?.idleTimeout);
  if (idleTimeout) common.idle_timeout = idleTimeout;
  const perConnection = pool?.http?.maxRequestsPerConnection;
  if (typeof perConnection === 'number' && perConnection > 0)
    common.max_requests_per_connection = { value: perConnection };
  if (!http2 && Object.keys(common).length === 0) return undefined;
  const out: Message = {
    explicit_http_config: http2 ? { http2_protocol_options: {} } : { http_protocol_options: {} },
  };
  if (Object.keys(common).length > 0) out.common_http_protocol_options = common;
  return out;
}

/** Istio's outlier detection: consecutive 5xx (and gateway) errors enforced, success rate off. */
function outlierDetection(settings: OutlierDetectionSettings): Message {
  const out: Message = { enforcing_success_rate: { value: 0 } };
  const consecutive5xx = settings.consecutive5xxErrors ?? settings.consecutiveErrors;
  if (typeof consecutive5xx === 'number') {
    out.consecutive_5xx = { value: consecutive5xx };
    out.enforcing_consecutive_5xx = { value: consecutive5xx > 0 ? 100 : 0 };
  }
  if (typeof settings.consecutiveGatewayErrors === 'number') {
    out.consecutive_gateway_failure = { value: settings.consecutiveGatewayErrors };
    out.enforcing_consecutive_gateway_failure = { value: settings.consecutiveGatewayErrors > 0 ? 100 : 0 };
  }
  const interval = toDuration(settings.interval);
  if (interval) out.interval = interval;
  const baseEjectionTime = toDuration(settings.baseEjectionTime);
  if (baseEjectionTime) out.base_ejection_time = baseEjectionTime;
  if (typeof settings.maxEjectionPercent === 'number' && settings.maxEjectionPercent > 0) {
    out.max_ejection_percent = { value: settings.maxEjectionPercent };
  }
  return out;
}

/**
 * Upstream TLS as Istio does it. `tls.mode` DISABLE: none. ISTIO_MUTUAL: mTLS to every endpoint.
 * Unset (auto mTLS): mTLS to endpoints whose metadata says `tlsMode: istio` (they have a
 * sidecar), plaintext to the others; none when PeerAuthentication disables mTLS for the
 * service's namespace. SIMPLE and MUTUAL (TLS origination with files) are not translated.
 */
function upstreamTls(
  ref: ClusterRef,
  tls: ClientTlsSettings | undefined,
  snapshot: RegistrySnapshot,
  mesh: MeshOptions,
  pack: Pack,
): Message {
  const mode = tls?.mode;
  if (mode === 'DISABLE' || mode === 'SIMPLE' || mode === 'MUTUAL') return {};
  const sans = tls?.subjectAltNames?.length ? [...tls.subjectAltNames] : expectedSans(ref.service, mesh.trustDomain);
  const socket = istioMutualSocket(istioSni(ref), sans, pack);
  if (mode === 'ISTIO_MUTUAL') return { transport_socket: socket };
  if (namespaceMtlsMode(snapshot.peerAuthentications, mesh.rootNamespace, ref.service.namespace) === 'DISABLE')
    return {};
  return {
    transport_socket_matches: [
      { name: 'tlsMode-istio', match: toStruct({ tlsMode: 'istio' }), transport_socket: socket },
      {
        name: 'tlsMode-disabled',
        match: toStruct({}),
        transport_socket: {
          name: 'envoy.transport_sockets.raw_buffer',
          typed_config: pack(SIDECAR_TYPE_URLS.RAW_BUFFER, {}),
        },
      },
    ],
  };
}

/** Istio's SNI for mTLS to a cluster: `outbound_.<port>_.<subset>_.<host>`. */
export function istioSni(ref: Pick<ClusterRef, 'port' | 'subset' | 'service'>): string {
  return `outbound_.${ref.port}_.${ref.subset}_.${ref.service.host}`;
}

/** The SPIFFE IDs of the service's endpoints that have a service account, sorted. */
export function expectedSans(service: MeshService, trustDomain: string): string[] {
  const ids = new Set<string>();
  for (const endpoint of service.endpoints) {
    if (!endpoint.serviceAccount) continue;
    const id = workloadSpiffeId(trustDomain, endpoint.namespace ?? service.namespace, endpoint.serviceAccount);
    if (id) ids.add(id);
  }
  return [...ids].sort();
}

/**
 * The workload certificate and the mesh roots, by Istio's SDS names. The Bowline proxy holds both
 * itself (from Citadel); they are named so the message is complete Envoy config.
 */
const sdsSecret = (name: string): Message => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });

/** Istio mTLS: the workload certificate, the mesh roots, and the server's identity among `sans`. */
function istioMutualSocket(sni: string, sans: readonly string[], pack: Pack): Message {
  const validation: Message = {};
  if (sans.length > 0) {
    validation.match_typed_subject_alt_names = sans.map((san) => ({ san_type: 'URI', matcher: { exact: san } }));
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: pack(SIDECAR_TYPE_URLS.UPSTREAM_TLS, {
      sni,
      common_tls_context: {
        alpn_protocols: ['h2', 'http/1.1'],
        tls_certificate_sds_secret_configs: [sdsSecret('default')],
        combined_validation_context: {
          default_validation_context: validation,
          validation_context_sds_secret_config: sdsSecret('ROOTCA'),
        },
      },
    }),
  };
}
