import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildRegistry, type RegistrySnapshot } from '../registry/build-registry';
import { configResource as resource, PROXYLESS_NODE } from '../registry/testing';
import { ConfigGenerator } from './config-generator';
import { EnvoyCodec } from './envoy-codec';
import type { ProxyNode } from './node';
import type { AnyMessage } from './types';

/* eslint-disable @typescript-eslint/no-require-imports */
const XDS = '@grpc/grpc-js-xds/build/src/xds-resource-type';
/** @grpc/grpc-js-xds's own decoders and validators: what a proxyless client accepts or NACKs. */
const validators = {
  LDS: () => require(`${XDS}/listener-resource-type`).ListenerResourceType.get(),
  RDS: () => require(`${XDS}/route-config-resource-type`).RouteConfigurationResourceType.get(),
  CDS: () => require(`${XDS}/cluster-resource-type`).ClusterResourceType.get(),
  EDS: () => require(`${XDS}/endpoint-resource-type`).EndpointResourceType.get(),
};
/* eslint-enable @typescript-eslint/no-require-imports */

const CONFIG = {
  serviceEntries: [
    resource('ServiceEntry', 'echo', {
      hosts: ['echo.default.svc.cluster.local'],
      ports: [{ number: 7070, name: 'grpc', protocol: 'GRPC' }],
      workloadSelector: { labels: { app: 'echo' } },
    }),
  ],
  workloadEntries: [
    resource('WorkloadEntry', 'a', {
      address: '10.0.0.1',
      labels: { app: 'echo', version: 'v1' },
      ports: { grpc: 9001 },
    }),
    resource('WorkloadEntry', 'b', { address: '10.0.0.2', labels: { app: 'echo', version: 'v2' } }),
    resource('WorkloadEntry', 'b-again', { address: '10.0.0.2', labels: { app: 'echo', version: 'v2' } }),
  ],
  destinationRules: [
    resource('DestinationRule', 'echo', {
      host: 'echo',
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    }),
  ],
  workloads: [],
};

const split = (v1: number) =>
  resource('VirtualService', 'echo', {
    hosts: ['echo'],
    http: [
      {
        match: [{ headers: { 'x-canary': { exact: 'yes' } } }],
        route: [{ destination: { host: 'echo', subset: 'v2' } }],
      },
      {
        route: [
          { destination: { host: 'echo', subset: 'v1' }, weight: v1 },
          { destination: { host: 'echo', subset: 'v2' }, weight: 100 - v1 },
        ],
      },
    ],
  });

/** Decodes a resource as grpc-js-xds does, failing when it would NACK it. */
const accepted = (type: keyof typeof validators, any: AnyMessage) => {
  const decoded = validators[type]().decode({ bootstrap: { certificateProviders: {} } }, any);
  assert.equal(decoded.error, undefined, `${type} rejected: ${decoded.error}`);
  return decoded.value;
};

const NODE = PROXYLESS_NODE;
const LISTENER = 'echo.default.svc.cluster.local:7070';

describe('ConfigGenerator', () => {
  let codec: EnvoyCodec;
  let generator: ConfigGenerator;
  before(() => {
    codec = new EnvoyCodec();
    generator = new ConfigGenerator(codec);
    // Registers grpc-js-xds's HTTP filters (the router) so its listener validation runs as in a client.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@grpc/grpc-js-xds').register();
  });

  it('serves the API listener, routes, clusters and endpoints a proxyless gRPC client accepts', () => {
    const snapshot = buildRegistry({ ...CONFIG, virtualServices: [split(75)] });
    const [listener] = generator.generate('LDS', snapshot, NODE, [LISTENER, 'echo:7070', 'missing:1']);
    assert.equal(listener.name, LISTENER, 'unknown names are left out');
    accepted('LDS', listener.resource);
    assert.equal(generator.generate('LDS', snapshot, NODE, ['echo:7070'])[0].name, 'echo:7070', 'short names resolve');

    const [routes] = generator.generate('RDS', snapshot, NODE, [LISTENER]);
    const config = accepted('RDS', routes.resource);
    const [canary, weighted] = config.virtual_hosts[0].routes;
    assert.equal(canary.route.cluster, 'outbound|7070|v2|echo.default.svc.cluster.local');
    assert.deepEqual(
      weighted.route.weighted_clusters.clusters.map((c: { name: string; weight: { value: number } }) => [
        c.name,
        c.weight.value,
      ]),
      [
        ['outbound|7070|v1|echo.default.svc.cluster.local', 75],
        ['outbound|7070|v2|echo.default.svc.cluster.local', 25],
      ],
    );
    assert.ok(config.virtual_hosts[0].domains.includes(LISTENER));

    const clusters = generator.generate('CDS', snapshot, NODE, null);
    assert.deepEqual(
      clusters.map((c) => c.name),
      [
        'outbound|7070|v1|echo.default.svc.cluster.local',
        'outbound|7070|v2|echo.default.svc.cluster.local',
        'outbound|7070||echo.default.svc.cluster.local',
      ],
    );
    for (const cluster of clusters) accepted('CDS', cluster.resource);

    const endpoints = generator.generate(
      'EDS',
      snapshot,
      NODE,
      clusters.map((c) => c.name),
    );
    const addresses = endpoints.map((e) =>
      accepted('EDS', e.resource).endpoints.flatMap((l: any) =>
        l.lb_endpoints.map(
          (lb: any) => `${lb.endpoint.address.socket_address.address}:${lb.endpoint.address.socket_address.port_value}`,
        ),
      ),
    );
    assert.deepEqual(addresses, [['10.0.0.1:9001'], ['10.0.0.2:7070'], ['10.0.0.1:9001', '10.0.0.2:7070']]);
  });

  it('routes a 100/0 split to one cluster, and a service without VirtualService to the whole service', () => {
    const all = buildRegistry({ ...CONFIG, virtualServices: [split(100)] });
    const routes = codec.unpack(generator.generate('RDS', all, NODE, [LISTENER])[0].resource) as any;
    assert.equal(routes.virtual_hosts[0].routes[1].route.cluster, 'outbound|7070|v1|echo.default.svc.cluster.local');
    const plain = buildRegistry({ ...CONFIG, virtualServices: [] });
    const defaults = codec.unpack(generator.generate('RDS', plain, NODE, [LISTENER])[0].resource) as any;
    assert.deepEqual(defaults.virtual_hosts[0].routes, [
      { name: 'default', match: { prefix: '/' }, route: { cluster: 'outbound|7070||echo.default.svc.cluster.local' } },
    ]);
  });
});

/* ---- Sidecar (BOWLINE_PROXY=sidecar) config, and proxyless config unchanged by it ---- */

type Loose = Record<string, any>;

const SIDECAR: ProxyNode = { ...NODE, id: 'sidecar~10.0.0.9~s.default~default.svc.cluster.local', sidecar: true };

/** Config that only sidecars see: traffic policies, retries, faults, mTLS labels, PeerAuthentication. */
const MESH = {
  serviceEntries: [
    resource('ServiceEntry', 'echo', {
      hosts: ['echo.default.svc.cluster.local'],
      ports: [
        { number: 7070, name: 'grpc', protocol: 'GRPC' },
        { number: 8080, name: 'http', protocol: 'HTTP' },
      ],
      workloadSelector: { labels: { app: 'echo' } },
    }),
  ],
  workloadEntries: [
    resource('WorkloadEntry', 'a', {
      address: '10.0.0.1',
      labels: { app: 'echo', version: 'v1', 'security.istio.io/tlsMode': 'istio' },
      serviceAccount: 'echo-a',
    }),
    resource('WorkloadEntry', 'b', {
      address: '10.0.0.2',
      labels: { app: 'echo', version: 'v2' },
      serviceAccount: 'echo-b',
    }),
  ],
  workloads: [
    {
      nodeId: 'sidecar~10.0.0.3~c.default~default.svc.cluster.local',
      namespace: 'default',
      serviceAccount: 'echo-c',
      labels: { app: 'echo', version: 'v1' },
      address: '10.0.0.3',
      ports: new Map([[7070, 17070]]),
      healthy: true,
      connections: 1,
    },
  ],
  destinationRules: [
    resource('DestinationRule', 'echo', {
      host: 'echo',
      trafficPolicy: {
        loadBalancer: { simple: 'RANDOM' },
        connectionPool: { tcp: { maxConnections: 100 }, http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000 } },
        outlierDetection: { consecutiveErrors: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
        portLevelSettings: [{ port: { number: 8080 }, connectionPool: { http: { h2UpgradePolicy: 'UPGRADE' } } }],
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { loadBalancer: { simple: 'LEAST_CONN' } } },
        { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { tls: { mode: 'DISABLE' } } },
      ],
    }),
  ],
  virtualServices: [
    resource('VirtualService', 'echo', {
      hosts: ['echo'],
      http: [
        {
          name: 'canary',
          match: [{ method: { exact: 'POST' }, uri: { prefix: '/api' }, queryParams: { v: { exact: '2' } } }],
          rewrite: { uri: '/v2/api', authority: 'echo-v2' },
          timeout: '3s',
          retries: { attempts: 3, perTryTimeout: '1s', retryOn: '5xx,reset' },
          fault: {
            delay: { fixedDelay: '2s', percentage: { value: 10 } },
            abort: { httpStatus: 503, percentage: { value: 1.5 } },
          },
          route: [{ destination: { host: 'echo', subset: 'v2' } }],
        },
        {
          name: 'no-retries',
          match: [{ uri: { exact: '/once' } }],
          retries: { attempts: 0 },
          route: [{ destination: { host: 'echo' } }],
        },
        { route: [{ destination: { host: 'echo', subset: 'v1' } }] },
      ],
    }),
  ],
  peerAuthentications: [
    resource('PeerAuthentication', 'default', { mtls: { mode: 'STRICT' } }),
    resource('PeerAuthentication', 'echo', {
      selector: { matchLabels: { app: 'echo' } },
      mtls: { mode: 'UNSET' },
      portLevelMtls: { '9090': { mode: 'PERMISSIVE' } },
    }),
  ],
};

describe('ConfigGenerator for sidecars', () => {
  let codec: EnvoyCodec;
  let generator: ConfigGenerator;
  before(() => {
    codec = new EnvoyCodec();
    generator = new ConfigGenerator(codec);
  });
  const decode = (any: AnyMessage): Loose => codec.unpack(any);
  const one = (type: 'LDS' | 'RDS' | 'CDS' | 'EDS', snapshot: RegistrySnapshot, node: ProxyNode, name: string) => {
    const [generated] = generator.generate(type, snapshot, node, [name]);
    assert.ok(generated, `${type} ${name} generated`);
    return decode(generated.resource);
  };
  const cluster = (snapshot: RegistrySnapshot, name: string, node = SIDECAR) => one('CDS', snapshot, node, name);
  const echo = (port: number, subset = '') => `outbound|${port}|${subset}|echo.default.svc.cluster.local`;

  it('keeps a proxyless client exactly as before, whatever sidecar-only config exists', () => {
    const snapshot = buildRegistry(MESH);
    const listeners = generator.generate('LDS', snapshot, NODE, null);
    assert.deepEqual(
      listeners.map((l) => l.name),
      ['echo.default.svc.cluster.local:7070', 'echo.default.svc.cluster.local:8080'],
      'no virtualInbound',
    );
    const manager = decode(decode(listeners[0].resource).api_listener.api_listener);
    assert.deepEqual(
      manager.http_filters.map((f: Loose) => f.name),
      ['envoy.filters.http.router'],
    );
    const routes = one('RDS', snapshot, NODE, 'echo.default.svc.cluster.local:8080').virtual_hosts[0].routes;
    assert.deepEqual(routes, [
      { name: 'canary', match: { prefix: '/api' }, route: { cluster: echo(8080, 'v2') } },
      { name: 'no-retries', match: { path: '/once' }, route: { cluster: echo(8080) } },
      { name: 'default/echo[2]', match: { prefix: '/' }, route: { cluster: echo(8080, 'v1') } },
    ]);
    for (const name of [echo(7070), echo(7070, 'v1'), echo(8080, 'v2')]) {
      assert.deepEqual(Object.keys(cluster(snapshot, name, NODE)).sort(), [
        'connect_timeout',
        'eds_cluster_config',
        'lb_policy',
        'name',
        'type',
      ]);
      assert.equal(cluster(snapshot, name, NODE).lb_policy, 'ROUND_ROBIN');
      const endpoints = one('EDS', snapshot, NODE, name).endpoints.flatMap((l: Loose) => l.lb_endpoints);
      assert.ok(endpoints.length > 0);
      assert.ok(
        endpoints.every((e: Loose) => e.metadata === undefined),
        'no tlsMode metadata',
      );
    }
    for (const type of ['LDS', 'RDS', 'CDS', 'EDS'] as const) {
      for (const generated of generator.generate(type, snapshot, NODE, null)) accepted(type, generated.resource);
    }
  });

  it("routes with Istio's match, rewrite, timeout, retries and fault injection", () => {
    const snapshot = buildRegistry(MESH);
    const [canary, once, rest] = one('RDS', snapshot, SIDECAR, 'echo.default.svc.cluster.local:8080').virtual_hosts[0]
      .routes;
    assert.deepEqual(canary.match, {
      prefix: '/api',
      case_sensitive: { value: true },
      headers: [{ name: ':method', string_match: { exact: 'POST' } }],
      query_parameters: [{ name: 'v', string_match: { exact: '2' } }],
    });
    assert.equal(canary.route.cluster, echo(8080, 'v2'));
    assert.equal(canary.route.prefix_rewrite, '/v2/api');
    assert.equal(canary.route.host_rewrite_literal, 'echo-v2');
    assert.deepEqual(canary.route.timeout, { seconds: '3' });
    assert.equal(canary.route.retry_policy.retry_on, '5xx,reset');
    assert.deepEqual(canary.route.retry_policy.num_retries, { value: 3 });
    assert.deepEqual(canary.route.retry_policy.per_try_timeout, { seconds: '1' });
    assert.deepEqual(decode(canary.typed_per_filter_config['envoy.filters.http.fault']), {
      delay: { fixed_delay: { seconds: '2' }, percentage: { numerator: 100_000, denominator: 'MILLION' } },
      abort: { http_status: 503, percentage: { numerator: 15_000, denominator: 'MILLION' } },
    });

    assert.equal(once.route.retry_policy, undefined, 'attempts: 0 disables retries');
    assert.deepEqual(rest.route.timeout, { seconds: '0' }, 'no timeout: 0 (disabled) as in Istio');
    assert.equal(
      rest.route.retry_policy.retry_on,
      'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
    );
    assert.deepEqual(rest.route.retry_policy.num_retries, { value: 2 });
    assert.deepEqual(rest.route.retry_policy.retriable_status_codes, [503]);
    assert.equal(rest.typed_per_filter_config, undefined);

    const plain = buildRegistry({ ...MESH, virtualServices: [] });
    const [fallback] = one('RDS', plain, SIDECAR, 'echo.default.svc.cluster.local:7070').virtual_hosts[0].routes;
    assert.equal(fallback.name, 'default');
    assert.equal(fallback.route.cluster, echo(7070));
    assert.deepEqual(fallback.route.timeout, { seconds: '0' });
    assert.deepEqual(fallback.route.retry_policy.num_retries, { value: 2 });

    const [listener] = generator.generate('LDS', snapshot, SIDECAR, ['echo.default.svc.cluster.local:8080']);
    const manager = decode(decode(listener.resource).api_listener.api_listener);
    assert.deepEqual(
      manager.http_filters.map((f: Loose) => f.name),
      ['envoy.filters.http.fault', 'envoy.filters.http.router'],
    );
  });

  it('applies DestinationRule traffic policies: load balancer, circuit breakers, HTTP/2, outlier detection', () => {
    const snapshot = buildRegistry(MESH);
    const whole = cluster(snapshot, echo(7070));
    assert.equal(whole.lb_policy, 'RANDOM');
    assert.equal(cluster(snapshot, echo(7070, 'v1')).lb_policy, 'LEAST_REQUEST', 'LEAST_CONN is LEAST_REQUEST');
    assert.deepEqual(whole.circuit_breakers.thresholds, [
      {
        max_connections: { value: 100 },
        max_pending_requests: { value: 10 },
        max_requests: { value: 1000 },
        max_retries: { value: 4294967295 },
        track_remaining: true,
      },
    ]);
    assert.deepEqual(whole.outlier_detection, {
      consecutive_5xx: { value: 5 },
      interval: { seconds: '10' },
      base_ejection_time: { seconds: '30' },
      max_ejection_percent: { value: 50 },
      enforcing_consecutive_5xx: { value: 100 },
      enforcing_success_rate: { value: 0 },
    });
    const http2 = (c: Loose) =>
      c.typed_extension_protocol_options &&
      decode(c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']);
    assert.deepEqual(http2(whole), { explicit_http_config: { http2_protocol_options: {} } }, 'a GRPC port');
    assert.deepEqual(http2(cluster(snapshot, echo(8080))), { explicit_http_config: { http2_protocol_options: {} } });
    const noUpgrade = buildRegistry({ ...MESH, destinationRules: [] });
    assert.equal(http2(cluster(noUpgrade, echo(8080))), undefined, 'an HTTP port without h2UpgradePolicy');
    const defaults = cluster(noUpgrade, echo(8080));
    assert.equal(defaults.lb_policy, 'LEAST_REQUEST', "Istio's default");
    assert.equal(defaults.outlier_detection, undefined);
    assert.deepEqual(defaults.circuit_breakers.thresholds[0].max_connections, { value: 4294967295 });
  });

  it("sets Istio's auto mTLS: tlsMode-istio endpoints over mTLS to the service's identities, others in plaintext", () => {
    const snapshot = buildRegistry(MESH);
    const [istio, disabled] = cluster(snapshot, echo(7070, 'v1')).transport_socket_matches;
    assert.equal(istio.name, 'tlsMode-istio');
    assert.deepEqual(istio.match, { fields: { tlsMode: { stringValue: 'istio' } } });
    assert.equal(istio.transport_socket.name, 'envoy.transport_sockets.tls');
    const tls = decode(istio.transport_socket.typed_config);
    assert.equal(tls.sni, 'outbound_.7070_.v1_.echo.default.svc.cluster.local');
    assert.deepEqual(tls.common_tls_context.alpn_protocols, ['h2', 'http/1.1']);
    assert.deepEqual(tls.common_tls_context.combined_validation_context.default_validation_context, {
      match_typed_subject_alt_names: ['echo-a', 'echo-b', 'echo-c'].map((sa) => ({
        san_type: 'URI',
        matcher: { exact: `spiffe://cluster.local/ns/default/sa/${sa}` },
      })),
    });
    assert.equal(disabled.name, 'tlsMode-disabled');
    assert.deepEqual(disabled.match, {});
    assert.equal(disabled.transport_socket.name, 'envoy.transport_sockets.raw_buffer');
    assert.equal(
      disabled.transport_socket.typed_config.type_url,
      'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer',
    );

    assert.equal(cluster(snapshot, echo(7070, 'v2')).transport_socket_matches, undefined, 'tls.mode DISABLE');
    const other = new ConfigGenerator(codec, { trustDomain: 'example.org', rootNamespace: 'istio-system' });
    const [otherIstio] = decode(
      other.generate('CDS', snapshot, SIDECAR, [echo(7070)])[0].resource,
    ).transport_socket_matches;
    assert.match(
      JSON.stringify(decode(otherIstio.transport_socket.typed_config)),
      /spiffe:\/\/example\.org\/ns\/default\/sa\/echo-a/,
    );

    const mutual = buildRegistry({
      ...MESH,
      destinationRules: [
        resource('DestinationRule', 'echo', { host: 'echo', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } }),
      ],
    });
    const explicit = cluster(mutual, echo(7070));
    assert.equal(explicit.transport_socket_matches, undefined);
    assert.equal(
      decode(explicit.transport_socket.typed_config).sni,
      'outbound_.7070_._.echo.default.svc.cluster.local',
    );

    const disabledMesh = buildRegistry({
      ...MESH,
      peerAuthentications: [resource('PeerAuthentication', 'default', { mtls: { mode: 'DISABLE' } })],
    });
    assert.equal(cluster(disabledMesh, echo(7070)).transport_socket_matches, undefined, 'PeerAuthentication DISABLE');
  });

  it('marks endpoints with a sidecar (registered, or labelled tlsMode istio) for the mTLS transport socket', () => {
    const snapshot = buildRegistry(MESH);
    const endpoints = one('EDS', snapshot, SIDECAR, echo(7070)).endpoints[0].lb_endpoints;
    assert.deepEqual(
      endpoints.map((e: Loose) => [
        e.endpoint.address.socket_address.address,
        e.metadata?.filter_metadata['envoy.transport_socket_match'],
      ]),
      [
        ['10.0.0.1', { fields: { tlsMode: { stringValue: 'istio' } } }],
        ['10.0.0.2', undefined],
        ['10.0.0.3', { fields: { tlsMode: { stringValue: 'istio' } } }],
      ],
    );
  });

  it("adds the virtualInbound listener with the chains of the workload's PeerAuthentication modes", () => {
    const snapshot = buildRegistry(MESH);
    const names = generator.generate('LDS', snapshot, SIDECAR, null).map((l) => l.name);
    assert.ok(names.includes('virtualInbound'), names.join());
    const chains = (node: ProxyNode, s = snapshot) =>
      one('LDS', s, node, 'virtualInbound').filter_chains.map((c: Loose) => [
        c.filter_chain_match.destination_port?.value,
        c.filter_chain_match.transport_protocol,
      ]);
    assert.deepEqual(chains(SIDECAR), [[undefined, 'tls']], 'namespace STRICT');
    const echoWorkload = { ...SIDECAR, id: 'echo-sidecar', labels: { app: 'echo' } };
    assert.deepEqual(
      chains(echoWorkload),
      [
        [9090, 'tls'],
        [9090, 'raw_buffer'],
        [undefined, 'tls'],
      ],
      'port-level PERMISSIVE on a STRICT (inherited) workload; cached per workload labels',
    );
    const disabled = buildRegistry({
      ...MESH,
      peerAuthentications: [resource('PeerAuthentication', 'default', { mtls: { mode: 'DISABLE' } })],
    });
    assert.deepEqual(chains(SIDECAR, disabled), [[undefined, 'raw_buffer']]);
    const none = buildRegistry({ ...MESH, peerAuthentications: [] });
    assert.deepEqual(chains(SIDECAR, none), [
      [undefined, 'tls'],
      [undefined, 'raw_buffer'],
    ]);
    const listener = one('LDS', none, SIDECAR, 'virtualInbound');
    const manager = decode(listener.filter_chains[0].filters[0].typed_config);
    assert.equal(manager.stat_prefix, 'inbound');
    assert.equal(generator.generate('LDS', none, NODE, ['virtualInbound']).length, 0, 'not for proxyless clients');
  });
});
