import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadBootstrapFile } from './bootstrap';
import { MeshConfigError } from './errors';
import { resolveOutbound, selectRoute } from './router';

const YAML = `
node: { id: sidecar~10.0.0.9~productpage.default~default.svc.cluster.local, cluster: productpage }
static_resources:
  listeners:
  - name: reviews.default.svc.cluster.local:9080
    api_listener:
      api_listener:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: reviews
        route_config:
          name: reviews
          virtual_hosts:
          - name: reviews
            domains: ["reviews.default.svc.cluster.local:9080", "reviews.default.svc.cluster.local"]
            routes:
            - name: v2-for-testers
              match: { prefix: /, headers: [{ name: end-user, string_match: { exact: tester } }] }
              route:
                cluster: outbound|9080|v2|reviews.default.svc.cluster.local
                timeout: 2s
                retry_policy: { retry_on: "5xx,connect-failure", num_retries: 2, per_try_timeout: 0.5s }
              typed_per_filter_config:
                envoy.filters.http.fault:
                  "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
                  delay: { fixed_delay: 0.1s, percentage: { numerator: 50 } }
            - match: { prefix: / }
              route: { cluster: outbound|9080||reviews.default.svc.cluster.local }
  - name: virtualInbound
    filter_chains:
    - filter_chain_match: { transport_protocol: tls }
    - filter_chain_match: { destination_port: 8080, transport_protocol: raw_buffer }
  clusters:
  - name: outbound|9080||reviews.default.svc.cluster.local
    type: STATIC
    lb_policy: LEAST_REQUEST
    connect_timeout: 1s
    circuit_breakers: { thresholds: [{ max_connections: 10, max_requests: 20 }] }
    outlier_detection: { consecutive_5xx: 2 }
    load_assignment:
      cluster_name: reviews
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 19080 } } }
          load_balancing_weight: 2
        - endpoint: { address: { socket_address: { address: 127.0.0.2, port_value: 19080 } } }
          health_status: DRAINING
  - name: outbound|9080|v2|reviews.default.svc.cluster.local
    type: STRICT_DNS
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: outbound_.9080_.v2_.reviews.default.svc.cluster.local
    load_assignment:
      cluster_name: reviews-v2
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: reviews-v2.local, port_value: 9080 } } } }] }]
`;

describe('loadBootstrapFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bowline-bootstrap-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it("builds a MeshConfig from Envoy's static_resources in YAML: inline routes, static endpoints, inbound modes", () => {
    const config = loadBootstrapFile(write('bootstrap.yaml', YAML));
    assert.match(config.versions.clusters, /^bootstrap-[0-9a-f]{12}$/);
    const target = resolveOutbound(config, 'reviews:9080', undefined, 'default')!;
    assert.equal(target.listener.routeConfigName, 'reviews');
    const route = selectRoute(target.virtualHost, { method: 'GET', path: '/', headers: { 'end-user': 'tester' } })!;
    assert.equal(route.name, 'v2-for-testers');
    assert.equal(route.timeoutMs, 2_000);
    assert.deepEqual([route.retry!.numRetries, route.retry!.perTryTimeoutMs], [2, 500]);
    assert.deepEqual(route.fault, { delay: { fixedDelayMs: 100, percent: 50 } });

    const whole = config.clusters.get('outbound|9080||reviews.default.svc.cluster.local')!;
    assert.equal(whole.lbPolicy, 'LEAST_REQUEST');
    assert.equal(whole.connectTimeoutMs, 1_000);
    assert.deepEqual(whole.limits, { maxConnections: 10, maxPendingRequests: 1024, maxRequests: 20 });
    assert.equal(whole.outlier?.consecutive5xx, 2);
    assert.deepEqual(config.endpoints.get(whole.name), [{ address: '127.0.0.1', port: 19080, weight: 2, mtls: false }]);

    const v2 = config.clusters.get('outbound|9080|v2|reviews.default.svc.cluster.local')!;
    assert.equal(v2.http2, true);
    assert.equal(v2.tls?.sni, 'outbound_.9080_.v2_.reviews.default.svc.cluster.local');
    assert.deepEqual(config.endpoints.get(v2.name), [
      { address: 'reviews-v2.local', port: 9080, weight: 1, mtls: true },
    ]);

    assert.equal(config.inbound.defaultMode, 'STRICT');
    assert.deepEqual([...config.inbound.portModes], [[8080, 'DISABLE']]);
    assert.equal(config.raw.clusters.length, 2);
  });

  it('reads the same document as JSON', () => {
    const json = {
      static_resources: {
        listeners: [
          {
            name: 'echo:80',
            api_listener: {
              api_listener: {
                '@type':
                  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                route_config: {
                  virtual_hosts: [
                    { name: 'echo', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'echo' } }] },
                  ],
                },
              },
            },
          },
        ],
        clusters: [{ name: 'echo', load_assignment: { cluster_name: 'echo', endpoints: [] } }],
      },
    };
    const config = loadBootstrapFile(write('bootstrap.json', JSON.stringify(json)));
    assert.equal(resolveOutbound(config, 'echo')?.virtualHost.routes[0].clusters[0].cluster, 'echo');
    assert.deepEqual(config.endpoints.get('echo'), []);
    assert.equal(config.inbound.defaultMode, 'PERMISSIVE', 'no virtualInbound');
  });

  it('names the file and the field path of what it cannot use', () => {
    const rejects = (text: string, name: string, message: RegExp) =>
      assert.throws(
        () => loadBootstrapFile(write(name, text)),
        (error: unknown) => {
          assert.ok(error instanceof MeshConfigError);
          assert.match(error.message, message);
          return true;
        },
      );
    const file = join(dir, 'bad.yaml');
    rejects('static_resources: [unclosed', 'bad.yaml', new RegExp(`^Bootstrap "${file}": not valid YAML`));
    rejects(
      'static_resources: { clusters: [{ name: a, lb_policy: RING_HASH }] }',
      'bad.yaml',
      /static_resources\.clusters\[0\]\.lb_policy: "RING_HASH" is not supported/,
    );
    rejects(
      'static_resources: { listeners: [{ name: main, address: { socket_address: { port_value: 15001 } } }] }',
      'bad.yaml',
      /static_resources\.listeners\[0\]: unsupported listener/,
    );
    rejects(
      'static_resources: { clusters: [{ name: a }, { name: a }] }',
      'bad.yaml',
      /static_resources\.clusters\[1\]\.name: duplicate name a/,
    );
    assert.throws(() => loadBootstrapFile(join(dir, 'missing.yaml')), /cannot read the file/);
  });
});
