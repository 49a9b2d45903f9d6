import {
  type Cluster,
  type ConnectionPoolLimits,
  DEFAULT_LIMITS,
  type Endpoint,
  type LbPolicy,
  type OutlierDetection,
  type UpstreamTls,
} from './model';
import { Field } from './proto-reader';

/** Envoy's defaults for what a cluster leaves unset. */
export const CLUSTER_DEFAULTS = {
  connectTimeoutMs: 5_000,
  healthyPanicThresholdPercent: 50,
  outlier: {
    consecutive5xx: 5,
    intervalMs: 10_000,
    baseEjectionTimeMs: 30_000,
    maxEjectionPercent: 10,
    maxEjectionTimeMs: 300_000,
  },
} as const;

const UPSTREAM_TLS_TYPE = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const RAW_BUFFER_TYPE = 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
const HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const TLS_MATCH_KEY = 'envoy.transport_socket_match';
const SKIPPED_HEALTH = new Set(['UNHEALTHY', 'DRAINING', 'TIMEOUT']);
const HEALTH_STATUSES = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'] as const;

/** One Cluster resource, translated, with what is needed to attach its endpoints. */
export interface TranslatedCluster {
  readonly cluster: Cluster;
  /** EDS clusters: the name their ClusterLoadAssignment is asked for (`service_name`, or the cluster name). */
  readonly edsServiceName?: string;
  /** Other types: the endpoints of the inline `load_assignment`. */
  readonly endpoints?: readonly Endpoint[];
  /** The cluster's TLS applies to every endpoint, not only to those marked `tlsMode: istio`. */
  readonly tlsForEveryEndpoint: boolean;
}

/** One ClusterLoadAssignment (EDS), translated. */
export interface TranslatedAssignment {
  readonly clusterName: string;
  /** Usable endpoints of the most preferred priority that has any (unhealthy and draining ones left out). */
  readonly endpoints: readonly Endpoint[];
}

/** Translates an `envoy.config.cluster.v3.Cluster` (CDS). */
export function translateCluster(resource: unknown): TranslatedCluster {
  return clusterFrom(Field.resource(resource, 'Cluster', 'name'));
}

/** Translates an `envoy.config.endpoint.v3.ClusterLoadAssignment` (EDS). */
export function translateClusterLoadAssignment(resource: unknown): TranslatedAssignment {
  return assignmentFrom(Field.resource(resource, 'ClusterLoadAssignment', 'cluster_name'));
}

/** The cluster at `field` (a CDS resource or a bootstrap entry). */
export function clusterFrom(field: Field): TranslatedCluster {
  const name = field.get('name').requireString();
  field.get('cluster_type').rejectIfSet();
  field.get('load_balancing_policy').rejectIfSet();
  field.get('health_checks').rejectIfSet('is not supported (outlier detection is)');
  const type = field.get('type').enumOf(['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS'], 'STATIC');
  const { tls, tlsForEveryEndpoint } = upstreamTls(field);
  const outlier = outlierDetection(field.get('outlier_detection'));
  const cluster: Cluster = {
    name,
    lbPolicy: field.get('lb_policy').enumOf<LbPolicy>(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'], 'ROUND_ROBIN'),
    connectTimeoutMs: field.get('connect_timeout').durationMs() ?? CLUSTER_DEFAULTS.connectTimeoutMs,
    limits: limits(field.get('circuit_breakers')),
    ...(outlier ? { outlier } : {}),
    ...(tls ? { tls } : {}),
    http2: http2(field),
    healthyPanicThresholdPercent:
      field.get('common_lb_config').get('healthy_panic_threshold').wrappedNumber() ??
      CLUSTER_DEFAULTS.healthyPanicThresholdPercent,
  };
  if (type === 'EDS') {
    const serviceName = field.get('eds_cluster_config').get('service_name').string() || name;
    return { cluster, edsServiceName: serviceName, tlsForEveryEndpoint };
  }
  const assignment = field.get('load_assignment');
  return { cluster, endpoints: assignment.isSet ? endpointsOf(assignment) : [], tlsForEveryEndpoint };
}

/** The assignment at `field`. */
export function assignmentFrom(field: Field): TranslatedAssignment {
  return { clusterName: field.get('cluster_name').requireString(), endpoints: endpointsOf(field) };
}

function limits(field: Field): ConnectionPoolLimits {
  const thresholds = field
    .get('thresholds')
    .list()
    .find((t) => t.get('priority').enumOf(['DEFAULT', 'HIGH'], 'DEFAULT') === 'DEFAULT');
  if (!thresholds) return DEFAULT_LIMITS;
  return {
    maxConnections: thresholds.get('max_connections').wrappedUint() ?? DEFAULT_LIMITS.maxConnections,
    maxPendingRequests: thresholds.get('max_pending_requests').wrappedUint() ?? DEFAULT_LIMITS.maxPendingRequests,
    maxRequests: thresholds.get('max_requests').wrappedUint() ?? DEFAULT_LIMITS.maxRequests,
  };
}

/** Outlier detection when the message is present, with Envoy's defaults for its unset fields. */
function outlierDetection(field: Field): OutlierDetection | undefined {
  if (!field.isSet) return undefined;
  const defaults = CLUSTER_DEFAULTS.outlier;
  const enforcing = field.get('enforcing_consecutive_5xx').wrappedUint() ?? 100;
  const maxEjectionPercent = field.get('max_ejection_percent').wrappedUint() ?? defaults.maxEjectionPercent;
  if (maxEjectionPercent > 100) field.get('max_ejection_percent').fail('must be at most 100');
  return {
    consecutive5xx: enforcing === 0 ? 0 : (field.get('consecutive_5xx').wrappedUint() ?? defaults.consecutive5xx),
    intervalMs: field.get('interval').durationMs() || defaults.intervalMs,
    baseEjectionTimeMs: field.get('base_ejection_time').durationMs() || defaults.baseEjectionTimeMs,
    maxEjectionPercent,
    maxEjectionTimeMs: field.get('max_ejection_time').durationMs() || defaults.maxEjectionTimeMs,
  };
}

function http2(field: Field): boolean {
  if (field.get('http2_protocol_options').isSet) return true;
  const options = field.get('typed_extension_protocol_options').entry(HTTP_OPTIONS_KEY);
  if (!options.isSet) return false;
  options.requireType(HTTP_OPTIONS_KEY);
  options.get('use_downstream_protocol_config').rejectIfSet();
  options.get('auto_config').rejectIfSet();
  return options.get('explicit_http_config').get('http2_protocol_options').isSet;
}

/**
 * Which endpoints speak TLS, Istio style: `transport_socket_matches` entries match endpoint
 * metadata `envoy.transport_socket_match` (`{tlsMode: istio}`, or `{}` for any endpoint), first
 * match wins, then the cluster's `transport_socket`. The translated TLS applies to every endpoint
 * when an unmarked endpoint gets TLS, else to the marked ones only.
 */
function upstreamTls(field: Field): { tls?: UpstreamTls; tlsForEveryEndpoint: boolean } {
  const matches = field.get('transport_socket_matches').list();
  const socketFor = (metadata: Record<string, unknown>): Field => {
    for (const entry of matches) {
      const criteria = entry.get('match').struct() ?? {};
      for (const key of Object.keys(criteria)) {
        if (key !== 'tlsMode') entry.get('match').fail(`unsupported match key "${key}" (only tlsMode)`);
      }
      if (Object.entries(criteria).every(([key, value]) => metadata[key] === value)) {
        return entry.get('transport_socket');
      }
    }
    return field.get('transport_socket');
  };
  const marked = tlsContext(socketFor({ tlsMode: 'istio' }));
  const unmarked = tlsContext(socketFor({}));
  if (unmarked) return { tls: marked ?? unmarked, tlsForEveryEndpoint: true };
  return marked ? { tls: marked, tlsForEveryEndpoint: false } : { tlsForEveryEndpoint: false };
}

/** The `UpstreamTlsContext` of a transport socket; undefined for plaintext (unset or raw_buffer). */
function tlsContext(socket: Field): UpstreamTls | undefined {
  if (!socket.isSet) return undefined;
  const config = socket.get('typed_config');
  const name = socket.get('name').string() ?? '';
  const type = config.isSet ? config.requireType(UPSTREAM_TLS_TYPE, RAW_BUFFER_TYPE) : undefined;
  if (type === RAW_BUFFER_TYPE || (!type && /raw_buffer$/.test(name))) return undefined;
  if (!type) socket.get('typed_config').fail(`is required for transport socket "${name}"`);
  const common = config.get('common_tls_context');
  const combined = common.get('combined_validation_context').get('default_validation_context');
  const validation = combined.isSet ? combined : common.get('validation_context');
  const expectedSans = validation
    .get('match_typed_subject_alt_names')
    .list()
    .map((san) => {
      san.get('san_type').enumOf(['URI'], 'URI');
      return exactMatcher(san.get('matcher'));
    });
  for (const matcher of validation.get('match_subject_alt_names').list()) expectedSans.push(exactMatcher(matcher));
  return { sni: config.get('sni').string() ?? '', expectedSans };
}

function exactMatcher(field: Field): string {
  const exact = field.get('exact').string();
  if (exact === undefined) field.fail('only exact SAN matchers are supported');
  return exact;
}

/** Endpoints of a ClusterLoadAssignment: the lowest priority that has usable ones. */
function endpointsOf(field: Field): Endpoint[] {
  const byPriority = new Map<number, Endpoint[]>();
  for (const locality of field.get('endpoints').list()) {
    const priority = locality.get('priority').uint() ?? 0;
    const list = byPriority.get(priority) ?? [];
    for (const lbEndpoint of locality.get('lb_endpoints').list()) {
      const endpoint = lbEndpointOf(lbEndpoint);
      if (endpoint) list.push(endpoint);
    }
    byPriority.set(priority, list);
  }
  const usable = [...byPriority.entries()].filter(([, list]) => list.length > 0).sort(([a], [b]) => a - b);
  return usable[0]?.[1] ?? [];
}

function lbEndpointOf(field: Field): Endpoint | undefined {
  field.get('endpoint_name').rejectIfSet();
  const health = field.get('health_status').enumOf(HEALTH_STATUSES, 'UNKNOWN');
  const address = field.get('endpoint').get('address');
  for (const unsupported of ['pipe', 'envoy_internal_address']) address.get(unsupported).rejectIfSet();
  const socket = address.get('socket_address');
  if (!socket.isSet) socket.fail('is required');
  socket.get('protocol').enumOf(['TCP'], 'TCP');
  socket.get('named_port').rejectIfSet();
  socket.get('resolver_name').rejectIfSet();
  const port = socket.get('port_value').uint() ?? 0;
  if (port < 1 || port > 65_535) socket.get('port_value').fail('must be a port in [1, 65535]');
  const weight = field.get('load_balancing_weight').wrappedUint() ?? 1;
  if (weight < 1) field.get('load_balancing_weight').fail('must be at least 1');
  const metadata = field.get('metadata').get('filter_metadata').entry(TLS_MATCH_KEY).struct();
  if (SKIPPED_HEALTH.has(health)) return undefined;
  return {
    address: socket.get('address').requireString(),
    port,
    weight,
    mtls: metadata?.tlsMode === 'istio',
  };
}
