import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, json, ServiceProcess, type TestDatabase, until } from '#libs/testing';
import { fromStruct } from '#libs/proto';
import { EnvoyCodec } from '../apps/pilot/src/xds/envoy-codec';
import { AdsStream, type Response, TYPE } from './fixtures/ads-client';
import { galleyClient } from './galley-fixtures';

/** A decoded Envoy message, typed loosely for assertions. */
type Loose = any;

const ADMIN = 'pilot-sidecar-e2e-admin-token-0123456789';
const HOST = 'reviews.default.svc.cluster.local';
const SIDECAR_NODE = 'sidecar~127.0.0.5~productpage.default~default.svc.cluster.local';
const GRPC_NODE = 'sidecar~127.0.0.6~grpc-client.default~default.svc.cluster.local';
const cluster = (port: number, subset = '') => `outbound|${port}|${subset}|${HOST}`;

/** Istio-shaped config as an operator would apply it: a service with traffic policy, routes and mTLS settings. */
const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  ports:
  - {number: 9080, name: http, protocol: HTTP}
  - {number: 7070, name: grpc, protocol: GRPC}
  resolution: STATIC
  workloadSelector:
    labels: {app: reviews}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1}
spec:
  address: 127.0.0.11
  labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}
  serviceAccount: bookinfo-reviews
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-legacy}
spec:
  address: 127.0.0.12
  labels: {app: reviews, version: v2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: LEAST_CONN}
    connectionPool:
      tcp: {maxConnections: 100}
      http: {http1MaxPendingRequests: 10, http2MaxRequests: 1000}
    outlierDetection: {consecutive5xxErrors: 7, interval: 5s, baseEjectionTime: 15s, maxEjectionPercent: 100}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {simple: RANDOM}
      tls: {mode: DISABLE}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: write
    match:
    - method: {exact: POST}
      uri: {prefix: /reviews}
    rewrite: {uri: /v1/reviews, authority: reviews-v1}
    timeout: 2s
    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,connect-failure"}
    fault:
      delay: {fixedDelay: 1s, percentage: {value: 25}}
      abort: {httpStatus: 503, percentage: {value: 10}}
    route:
    - destination: {host: reviews, subset: v1}
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 80
    - destination: {host: reviews, subset: v2}
      weight: 20
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec:
  mtls: {mode: PERMISSIVE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: productpage}
spec:
  selector:
    matchLabels: {app: productpage}
  mtls: {mode: UNSET}
  portLevelMtls:
    "9443": {mode: DISABLE}
`;

const STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec:
  mtls: {mode: STRICT}
`;

/** Pilot against a real Galley, with a hand-driven ADS client announcing itself as a Bowline sidecar. */
describe('pilot: Envoy sidecar config', () => {
  const codec = new EnvoyCodec();
  let db: TestDatabase;
  let galley: ServiceProcess;
  let pilot: ServiceProcess;
  const streams: AdsStream[] = [];
  const api = galleyClient(() => galley, ADMIN);
  const admin = (path: string) =>
    fetch(pilot.adminUrl + path, { headers: { authorization: `Bearer ${ADMIN}` } }).then(json);
  const env = () => ({ DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: ADMIN });

  /** Decodes every resource of a response by name. */
  const resources = (response: Response): Map<string, Loose> =>
    new Map(
      response.resources.map((any) => {
        const decoded = codec.unpack(any) as Loose;
        return [decoded.name ?? decoded.cluster_name, decoded];
      }),
    );
  const unpack = (any: { type_url: string; value: Buffer | Uint8Array }): Loose =>
    codec.unpack({ type_url: any.type_url, value: Buffer.from(any.value) });
  /** Subscribes and ACKs; returns the decoded resources of the first response. */
  const subscribe = async (stream: AdsStream, type: string, names: string[] = []) => {
    stream.request({ type_url: type, resource_names: names });
    const response = await stream.response(type);
    stream.request({
      type_url: type,
      resource_names: names,
      version_info: response.version_info,
      response_nonce: response.nonce,
    });
    return resources(response);
  };
  const sidecar = () =>
    new AdsStream(pilot.grpcAddress, {
      id: SIDECAR_NODE,
      metadata: {
        BOWLINE_PROXY: 'sidecar',
        NAMESPACE: 'default',
        SERVICE_ACCOUNT: 'bookinfo-productpage',
        LABELS: 'app=productpage,version=v1',
        INSTANCE_IPS: '127.0.0.5',
      },
    });

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    galley = await ServiceProcess.spawn('galley', env());
    await galley.waitFor('/readyz');
    pilot = await ServiceProcess.spawn('pilot', {
      ...env(),
      PILOT_GALLEY_ADDRESS: galley.grpcAddress,
      PILOT_DEBOUNCE: '50ms',
    });
    await pilot.waitFor('/readyz');
    assert.equal((await api.apply(MESH)).status, 200);
    await until('Pilot to have the config', async () => {
      const registry = await admin('/v1/registry');
      return registry.services?.some((s: Loose) => s.host === HOST) ? true : undefined;
    });
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await pilot?.stop();
    await galley?.stop();
    await db?.drop();
  });

  it('gives a sidecar clusters with the DestinationRule traffic policy and auto mTLS', async () => {
    const stream = sidecar();
    streams.push(stream);
    const clusters = await subscribe(stream, TYPE.CDS);
    assert.deepEqual(
      [...clusters.keys()].sort(),
      [
        cluster(7070),
        cluster(7070, 'v1'),
        cluster(7070, 'v2'),
        cluster(9080),
        cluster(9080, 'v1'),
        cluster(9080, 'v2'),
      ].sort(),
    );
    const v1 = clusters.get(cluster(9080, 'v1'))!;
    assert.equal(v1.lb_policy, 'LEAST_REQUEST');
    assert.deepEqual(v1.circuit_breakers.thresholds[0].max_connections, { value: 100 });
    assert.deepEqual(v1.circuit_breakers.thresholds[0].max_pending_requests, { value: 10 });
    assert.deepEqual(v1.circuit_breakers.thresholds[0].max_requests, { value: 1000 });
    assert.deepEqual(v1.outlier_detection.consecutive_5xx, { value: 7 });
    assert.deepEqual(v1.outlier_detection.interval, { seconds: '5' });
    assert.deepEqual(v1.outlier_detection.base_ejection_time, { seconds: '15' });
    assert.deepEqual(v1.outlier_detection.max_ejection_percent, { value: 100 });
    assert.equal(v1.typed_extension_protocol_options, undefined, 'HTTP/1.1 to an HTTP port');

    const [istio, plaintext] = v1.transport_socket_matches;
    assert.deepEqual([istio.name, plaintext.name], ['tlsMode-istio', 'tlsMode-disabled']);
    assert.deepEqual(fromStruct(istio.match), { tlsMode: 'istio' });
    assert.deepEqual(fromStruct(plaintext.match), {});
    const tls = unpack(istio.transport_socket.typed_config);
    assert.equal(tls.sni, `outbound_.9080_.v1_.${HOST}`);
    assert.deepEqual(tls.common_tls_context.alpn_protocols, ['h2', 'http/1.1']);
    assert.deepEqual(tls.common_tls_context.combined_validation_context.default_validation_context, {
      match_typed_subject_alt_names: [
        { san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews' } },
      ],
    });
    assert.equal(
      plaintext.transport_socket.typed_config.type_url,
      'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer',
    );

    const v2 = clusters.get(cluster(9080, 'v2'))!;
    assert.equal(v2.lb_policy, 'RANDOM', 'subset override');
    assert.equal(v2.transport_socket_matches, undefined, 'tls.mode DISABLE');
    const grpc = clusters.get(cluster(7070))!;
    assert.deepEqual(
      unpack(grpc.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']),
      { explicit_http_config: { http2_protocol_options: {} } },
      'HTTP/2 to a GRPC port',
    );

    const endpoints = await subscribe(stream, TYPE.EDS, [cluster(9080)]);
    const lbEndpoints = endpoints.get(cluster(9080))!.endpoints[0].lb_endpoints;
    assert.deepEqual(
      lbEndpoints
        .map((e: Loose) => [
          e.endpoint.address.socket_address.address,
          e.metadata && fromStruct(e.metadata.filter_metadata['envoy.transport_socket_match']),
        ])
        .sort(),
      [
        ['127.0.0.11', { tlsMode: 'istio' }],
        ['127.0.0.12', undefined],
      ],
      'the WorkloadEntry labelled tlsMode istio is marked for mTLS',
    );
  });

  it('gives a sidecar routes with match, rewrite, timeout, retries and fault injection', async () => {
    const stream = streams[0];
    const routes = await subscribe(stream, TYPE.RDS, [`${HOST}:9080`]);
    const [write, split] = routes.get(`${HOST}:9080`)!.virtual_hosts[0].routes;
    assert.equal(write.name, 'write');
    assert.equal(write.match.prefix, '/reviews');
    assert.deepEqual(write.match.headers, [{ name: ':method', string_match: { exact: 'POST' } }]);
    assert.equal(write.route.cluster, cluster(9080, 'v1'));
    assert.equal(write.route.prefix_rewrite, '/v1/reviews');
    assert.equal(write.route.host_rewrite_literal, 'reviews-v1');
    assert.deepEqual(write.route.timeout, { seconds: '2' });
    assert.deepEqual(write.route.retry_policy.num_retries, { value: 3 });
    assert.deepEqual(write.route.retry_policy.per_try_timeout, { seconds: '0', nanos: 500_000_000 });
    assert.equal(write.route.retry_policy.retry_on, '5xx,connect-failure');
    assert.deepEqual(unpack(write.typed_per_filter_config['envoy.filters.http.fault']), {
      delay: { fixed_delay: { seconds: '1' }, percentage: { numerator: 250_000, denominator: 'MILLION' } },
      abort: { http_status: 503, percentage: { numerator: 100_000, denominator: 'MILLION' } },
    });
    assert.deepEqual(
      split.route.weighted_clusters.clusters.map((c: Loose) => [c.name, c.weight.value]),
      [
        [cluster(9080, 'v1'), 80],
        [cluster(9080, 'v2'), 20],
      ],
    );
    assert.deepEqual(split.route.timeout, { seconds: '0' }, 'no timeout: disabled');
    assert.equal(
      split.route.retry_policy.retry_on,
      'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
    );
    assert.deepEqual(split.route.retry_policy.num_retries, { value: 2 });
    assert.deepEqual(split.route.retry_policy.retriable_status_codes, [503]);
  });

  it('gives a sidecar the virtualInbound listener of its PeerAuthentication, and pushes a STRICT change', async () => {
    const stream = streams[0];
    const chains = (listener: Loose) =>
      listener.filter_chains.map((chain: Loose) => [
        chain.filter_chain_match.destination_port?.value ?? null,
        chain.filter_chain_match.transport_protocol,
      ]);
    const listeners = await subscribe(stream, TYPE.LDS);
    assert.ok(listeners.has(`${HOST}:9080`));
    assert.deepEqual(chains(listeners.get('virtualInbound')), [
      [9443, 'raw_buffer'],
      [null, 'tls'],
      [null, 'raw_buffer'],
    ]);

    assert.equal((await api.apply(STRICT)).status, 200);
    const response = await stream.response(TYPE.LDS, 1);
    stream.request({ type_url: TYPE.LDS, version_info: response.version_info, response_nonce: response.nonce });
    const pushed = resources(response);
    assert.deepEqual(chains(pushed.get('virtualInbound')), [
      [9443, 'raw_buffer'],
      [null, 'tls'],
    ]);
  });

  it('pushes the identity and mTLS mark of a workload that registers over xDS', async () => {
    const stream = streams[0];
    const cdsBefore = stream.count(TYPE.CDS);
    const edsBefore = stream.count(TYPE.EDS);
    const workload = new AdsStream(pilot.grpcAddress, {
      id: 'sidecar~127.0.0.13~reviews-v3.default~default.svc.cluster.local',
      metadata: {
        BOWLINE_PROXY: 'sidecar',
        NAMESPACE: 'default',
        SERVICE_ACCOUNT: 'reviews-v3',
        LABELS: 'app=reviews,version=v3',
        INSTANCE_IPS: '127.0.0.13',
        BOWLINE_SERVICE: 'reviews',
        BOWLINE_PORTS: '9080:19080',
      },
    });
    streams.push(workload);
    await subscribe(workload, TYPE.CDS);

    const clusters = resources(await stream.response(TYPE.CDS, cdsBefore));
    const tls = unpack(clusters.get(cluster(9080))!.transport_socket_matches[0].transport_socket.typed_config);
    assert.deepEqual(
      tls.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names.map(
        (san: Loose) => san.matcher.exact,
      ),
      ['spiffe://cluster.local/ns/default/sa/bookinfo-reviews', 'spiffe://cluster.local/ns/default/sa/reviews-v3'],
    );
    const endpoints = resources(await stream.response(TYPE.EDS, edsBefore));
    const registered = endpoints
      .get(cluster(9080))!
      .endpoints[0].lb_endpoints.find((e: Loose) => e.endpoint.address.socket_address.address === '127.0.0.13');
    assert.equal(registered.endpoint.address.socket_address.port_value, 19080);
    assert.deepEqual(fromStruct(registered.metadata.filter_metadata['envoy.transport_socket_match']), {
      tlsMode: 'istio',
    });
    for (const type of [TYPE.CDS, TYPE.EDS]) {
      const last = stream.responses.filter((r) => r.type_url === type).at(-1)!;
      stream.request({
        type_url: type,
        resource_names: type === TYPE.EDS ? [cluster(9080)] : [],
        version_info: last.version_info,
        response_nonce: last.nonce,
      });
    }
  });

  it('gives a proxyless client (no BOWLINE_PROXY) none of it, and lists both in proxy-status', async () => {
    const client = new AdsStream(pilot.grpcAddress, {
      id: GRPC_NODE,
      metadata: { NAMESPACE: 'default', LABELS: 'app=productpage' },
    });
    streams.push(client);
    const clusters = await subscribe(client, TYPE.CDS);
    assert.equal(clusters.size, 6);
    for (const resource of clusters.values()) {
      assert.equal(resource.transport_socket_matches, undefined);
      assert.equal(resource.circuit_breakers, undefined);
      assert.equal(resource.lb_policy, 'ROUND_ROBIN');
    }
    const listeners = await subscribe(client, TYPE.LDS);
    assert.deepEqual([...listeners.keys()].sort(), [`${HOST}:7070`, `${HOST}:9080`]);
    const routes = await subscribe(client, TYPE.RDS, [`${HOST}:9080`]);
    const [write] = routes.get(`${HOST}:9080`)!.virtual_hosts[0].routes;
    assert.deepEqual(write.route, { cluster: cluster(9080, 'v1') });
    assert.equal(write.typed_per_filter_config, undefined);
    const endpoints = await subscribe(client, TYPE.EDS, [cluster(9080)]);
    for (const lb of endpoints.get(cluster(9080))!.endpoints[0].lb_endpoints) assert.equal(lb.metadata, undefined);

    const status = await until('both streams SYNCED on LDS', async () => {
      const body = await admin('/v1/proxy-status');
      const mine = body.proxies.filter((p: Loose) => [SIDECAR_NODE, GRPC_NODE].includes(p.nodeId));
      return mine.length === 2 && mine.every((p: Loose) => p.xds.LDS.status === 'SYNCED') ? mine : undefined;
    });
    const byNode = Object.fromEntries(status.map((p: Loose) => [p.nodeId, p]));
    assert.equal(byNode[SIDECAR_NODE].proxy, 'sidecar');
    assert.equal(byNode[GRPC_NODE].proxy, 'proxyless');
    assert.equal(byNode[SIDECAR_NODE].xds.LDS.subscribed, '*');
    assert.equal(byNode[SIDECAR_NODE].xds.LDS.resources, 3, 'two listeners and virtualInbound');
    assert.equal(byNode[GRPC_NODE].xds.LDS.resources, 2);
  });
});
