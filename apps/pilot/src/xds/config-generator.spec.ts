import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildRegistry } from '../registry/build-registry';
import type { ConfigResource, WatchedKind } from '../registry/config-store';
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

const resource = (kind: WatchedKind, name: string, spec: Record<string, unknown>): ConfigResource => ({
  kind,
  namespace: 'default',
  name,
  resourceVersion: 1,
  spec,
  labels: {},
});

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

const NODE: ProxyNode = {
  id: 'sidecar~10.0.0.9~c.default~default.svc.cluster.local',
  type: 'sidecar',
  namespace: 'default',
  serviceAccount: 'c',
  labels: {},
  ips: ['10.0.0.9'],
};
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

  const accepted = (type: keyof typeof validators, any: AnyMessage) => {
    const decoded = validators[type]().decode({ bootstrap: { certificateProviders: {} } }, any);
    assert.equal(decoded.error, undefined, `${type} rejected: ${decoded.error}`);
    return decoded.value;
  };

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
