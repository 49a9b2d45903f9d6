import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toStruct } from '#libs/proto';
import { MeshConfigError } from './errors';
import { assembleMeshConfig, translateCluster, translateClusterLoadAssignment } from './translate';

const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const RAW_BUFFER = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const NAME = 'outbound|9080||reviews.default.svc.cluster.local';
const SPIFFE = 'spiffe://cluster.local/ns/default/sa/reviews';

const eds = (fields: Record<string, unknown> = {}) => ({
  name: NAME,
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {} }, service_name: NAME },
  ...fields,
});
const tlsSocket = {
  name: 'envoy.transport_sockets.tls',
  typed_config: {
    '@type': UPSTREAM_TLS,
    sni: 'outbound_.9080_._.reviews.default.svc.cluster.local',
    common_tls_context: {
      combined_validation_context: {
        default_validation_context: {
          match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: SPIFFE } }],
        },
      },
    },
  },
};
const istioMatches = [
  { name: 'tlsMode-istio', match: toStruct({ tlsMode: 'istio' }), transport_socket: tlsSocket },
  {
    name: 'tlsMode-disabled',
    match: {},
    transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': RAW_BUFFER } },
  },
];
const lbEndpoint = (address: string, fields: Record<string, unknown> = {}) => ({
  endpoint: { address: { socket_address: { address, port_value: 9080 } } },
  ...fields,
});
const rejects = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (error: unknown) => error instanceof MeshConfigError && message.test(error.message));

describe('translateCluster', () => {
  it("applies Envoy's defaults: round robin, 5 s connect timeout, 1024 limits, no outlier detection, HTTP/1.1", () => {
    assert.deepEqual(translateCluster(eds()), {
      cluster: {
        name: NAME,
        lbPolicy: 'ROUND_ROBIN',
        connectTimeoutMs: 5_000,
        limits: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024 },
        http2: false,
        healthyPanicThresholdPercent: 50,
      },
      edsServiceName: NAME,
      tlsForEveryEndpoint: false,
    });
  });

  it('translates the load balancer, connect timeout, default-priority thresholds and panic threshold', () => {
    const { cluster } = translateCluster(
      eds({
        lb_policy: 'LEAST_REQUEST',
        connect_timeout: { seconds: '1', nanos: 500_000_000 },
        circuit_breakers: {
          thresholds: [
            { priority: 'HIGH', max_connections: { value: 1 } },
            { max_connections: { value: 100 }, max_pending_requests: { value: 10 }, max_retries: { value: 3 } },
          ],
        },
        common_lb_config: { healthy_panic_threshold: {} },
      }),
    );
    assert.equal(cluster.lbPolicy, 'LEAST_REQUEST');
    assert.equal(cluster.connectTimeoutMs, 1_500);
    assert.deepEqual(cluster.limits, { maxConnections: 100, maxPendingRequests: 10, maxRequests: 1024 });
    assert.equal(cluster.healthyPanicThresholdPercent, 0, '{} is Percent 0');
    assert.equal(translateCluster(eds({ lb_policy: 'RANDOM' })).cluster.lbPolicy, 'RANDOM');
  });

  it('fills outlier detection defaults only when the message is present; enforcing 0 disables 5xx ejection', () => {
    assert.equal(translateCluster(eds()).cluster.outlier, undefined);
    assert.deepEqual(translateCluster(eds({ outlier_detection: {} })).cluster.outlier, {
      consecutive5xx: 5,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 10,
      maxEjectionTimeMs: 300_000,
    });
    const custom = translateCluster(
      eds({
        outlier_detection: {
          consecutive_5xx: { value: 3 },
          interval: { seconds: '1' },
          base_ejection_time: { seconds: '2' },
          max_ejection_percent: { value: 50 },
          enforcing_success_rate: { value: 0 },
        },
      }),
    ).cluster.outlier!;
    assert.deepEqual(
      [custom.consecutive5xx, custom.intervalMs, custom.baseEjectionTimeMs, custom.maxEjectionPercent],
      [3, 1_000, 2_000, 50],
    );
    const off = translateCluster(
      eds({ outlier_detection: { consecutive_5xx: { value: 3 }, enforcing_consecutive_5xx: {} } }),
    );
    assert.equal(off.cluster.outlier!.consecutive5xx, 0);
  });

  it("reads Istio's auto mTLS (tlsMode-istio endpoints only) and ISTIO_MUTUAL (every endpoint)", () => {
    const auto = translateCluster(eds({ transport_socket_matches: istioMatches }));
    assert.deepEqual(auto.cluster.tls, {
      sni: 'outbound_.9080_._.reviews.default.svc.cluster.local',
      expectedSans: [SPIFFE],
    });
    assert.equal(auto.tlsForEveryEndpoint, false);
    const mutual = translateCluster(eds({ transport_socket: tlsSocket }));
    assert.equal(mutual.cluster.tls!.sni, 'outbound_.9080_._.reviews.default.svc.cluster.local');
    assert.equal(mutual.tlsForEveryEndpoint, true);
    const plain = translateCluster(eds({ transport_socket: istioMatches[1].transport_socket }));
    assert.equal(plain.cluster.tls, undefined);
  });

  it('speaks HTTP/2 upstream when the HTTP protocol options say so', () => {
    const options = (config: Record<string, unknown>) =>
      translateCluster(
        eds({
          typed_extension_protocol_options: {
            [HTTP_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_OPTIONS}`, ...config },
          },
        }),
      ).cluster.http2;
    assert.equal(options({ explicit_http_config: { http2_protocol_options: {} } }), true);
    assert.equal(options({ explicit_http_config: { http_protocol_options: {} } }), false);
    assert.equal(translateCluster(eds({ http2_protocol_options: {} })).cluster.http2, true, 'the deprecated field');
  });

  it('takes the inline load_assignment of a STATIC cluster', () => {
    const translated = translateCluster({
      name: 'static',
      connect_timeout: '0.25s',
      load_assignment: { cluster_name: 'static', endpoints: [{ lb_endpoints: [lbEndpoint('127.0.0.1')] }] },
    });
    assert.equal(translated.edsServiceName, undefined);
    assert.equal(translated.cluster.connectTimeoutMs, 250);
    assert.deepEqual(translated.endpoints, [{ address: '127.0.0.1', port: 9080, weight: 1, mtls: false }]);
  });

  it('rejects unsupported settings with the field path', () => {
    rejects(
      () => translateCluster(eds({ lb_policy: 'MAGLEV' })),
      /^Cluster "outbound\|9080\|\|reviews\.default\.svc\.cluster\.local" lb_policy: "MAGLEV" is not supported/,
    );
    rejects(() => translateCluster(eds({ type: 'ORIGINAL_DST' })), /type: "ORIGINAL_DST" is not supported/);
    rejects(
      () => translateCluster(eds({ connect_timeout: '5 seconds' })),
      /connect_timeout: invalid duration "5 seconds"/,
    );
    rejects(
      () =>
        translateCluster(
          eds({ transport_socket_matches: [{ match: toStruct({ zone: 'a' }), transport_socket: tlsSocket }] }),
        ),
      /transport_socket_matches\[0\]\.match: unsupported match key "zone"/,
    );
    rejects(
      () =>
        translateCluster(
          eds({
            transport_socket: {
              name: 'tls',
              typed_config: {
                ...tlsSocket.typed_config,
                common_tls_context: {
                  validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'x' } }] },
                },
              },
            },
          }),
        ),
      /common_tls_context\.validation_context\.match_typed_subject_alt_names\[0\]\.san_type: "DNS" is not supported/,
    );
    rejects(() => translateCluster({ type: 'EDS' }), /^Cluster "\(unnamed\)" name: is required/);
  });
});

describe('translateClusterLoadAssignment', () => {
  it('keeps usable endpoints with their weight and sidecar (tlsMode istio) mark', () => {
    const translated = translateClusterLoadAssignment({
      cluster_name: NAME,
      endpoints: [
        {
          locality: {},
          lb_endpoints: [
            lbEndpoint('10.0.0.1', {
              health_status: 'HEALTHY',
              load_balancing_weight: { value: 3 },
              metadata: { filter_metadata: { 'envoy.transport_socket_match': toStruct({ tlsMode: 'istio' }) } },
            }),
            lbEndpoint('10.0.0.2'),
            lbEndpoint('10.0.0.3', { health_status: 'UNHEALTHY' }),
            lbEndpoint('10.0.0.4', { health_status: 'DRAINING' }),
            lbEndpoint('10.0.0.5', {
              metadata: { filter_metadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' } } },
            }),
          ],
        },
        { priority: 1, lb_endpoints: [lbEndpoint('10.0.9.9')] },
      ],
    });
    assert.equal(translated.clusterName, NAME);
    assert.deepEqual(translated.endpoints, [
      { address: '10.0.0.1', port: 9080, weight: 3, mtls: true },
      { address: '10.0.0.2', port: 9080, weight: 1, mtls: false },
      { address: '10.0.0.5', port: 9080, weight: 1, mtls: true },
    ]);
  });

  it('falls back to the next priority when the first has no usable endpoint', () => {
    const translated = translateClusterLoadAssignment({
      cluster_name: NAME,
      endpoints: [
        { lb_endpoints: [lbEndpoint('10.0.0.1', { health_status: 'UNHEALTHY' })] },
        { priority: 1, lb_endpoints: [lbEndpoint('10.0.9.9')] },
      ],
    });
    assert.deepEqual(
      translated.endpoints.map((e) => e.address),
      ['10.0.9.9'],
    );
  });

  it('rejects addresses it cannot reach, with the field path', () => {
    const assignment = (lb: unknown) => () =>
      translateClusterLoadAssignment({ cluster_name: 'c', endpoints: [{ lb_endpoints: [lb] }] });
    rejects(
      assignment({ endpoint: { address: { pipe: { path: '/tmp/s' } } } }),
      /^ClusterLoadAssignment "c" endpoints\[0\]\.lb_endpoints\[0\]\.endpoint\.address\.pipe: is not supported/,
    );
    rejects(
      assignment({ endpoint: { address: { socket_address: { address: 'a', port_value: 70000 } } } }),
      /socket_address\.port_value: must be a port/,
    );
    rejects(assignment(lbEndpoint('a', { load_balancing_weight: {} })), /load_balancing_weight: must be at least 1/);
  });
});

describe('assembleMeshConfig', () => {
  it('attaches endpoints to clusters and marks the ones reached over mTLS', () => {
    const endpoints = translateClusterLoadAssignment({
      cluster_name: NAME,
      endpoints: [
        {
          lb_endpoints: [
            lbEndpoint('10.0.0.1', {
              metadata: { filter_metadata: { 'envoy.transport_socket_match': toStruct({ tlsMode: 'istio' }) } },
            }),
            lbEndpoint('10.0.0.2'),
          ],
        },
      ],
    }).endpoints;
    const build = (cluster: Record<string, unknown>) =>
      assembleMeshConfig({
        versions: { listeners: '', routes: '', clusters: '1', endpoints: '1' },
        listeners: [],
        routes: [],
        clusters: [translateCluster(cluster)],
        assignments: new Map([[NAME, endpoints]]),
        raw: {},
      })
        .endpoints.get(NAME)!
        .map((e) => e.mtls);
    assert.deepEqual(build(eds({ transport_socket_matches: istioMatches })), [true, false], 'auto mTLS');
    assert.deepEqual(build(eds({ transport_socket: tlsSocket })), [true, true], 'ISTIO_MUTUAL');
    assert.deepEqual(build(eds()), [false, false], 'no TLS configured');
    const noInbound = assembleMeshConfig({
      versions: { listeners: '', routes: '', clusters: '', endpoints: '' },
      listeners: [],
      routes: [],
      clusters: [translateCluster(eds({ name: 'other', eds_cluster_config: {} }))],
      assignments: new Map(),
      raw: {},
    });
    assert.equal(noInbound.inbound.defaultMode, 'PERMISSIVE');
    assert.equal(noInbound.endpoints.has('other'), false, 'no assignment yet');
  });
});
