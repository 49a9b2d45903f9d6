import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildRegistry, type RegistrySnapshot } from '../../../pilot/src/registry/build-registry';
import type { ConfigResource, WatchedKind } from '../../../pilot/src/registry/config-store';
import { ConfigGenerator } from '../../../pilot/src/xds/config-generator';
import { EnvoyCodec } from '../../../pilot/src/xds/envoy-codec';
import type { ProxyNode } from '../../../pilot/src/xds/node';
import { EnvoyTypes } from './envoy-types';
import type { MeshConfig } from './model';
import { resolveOutbound, selectRoute } from './router';
import {
  assembleMeshConfig,
  translateCluster,
  translateClusterLoadAssignment,
  translateListener,
  translateRouteConfiguration,
} from './translate';

/*
 * Pilot's real output, end to end: Pilot's generator encodes it as it does for a stream, the
 * proxy's EnvoyTypes decodes it, translate makes a MeshConfig of it.
 */

const resource = (kind: WatchedKind, name: string, spec: Record<string, unknown>): ConfigResource => ({
  kind,
  namespace: 'default',
  name,
  resourceVersion: 1,
  spec,
  labels: {},
});

const REGISTRY = {
  serviceEntries: [
    resource('ServiceEntry', 'reviews', {
      hosts: ['reviews.default.svc.cluster.local'],
      ports: [{ number: 9080, name: 'http', protocol: 'HTTP' }],
      workloadSelector: { labels: { app: 'reviews' } },
    }),
  ],
  workloadEntries: [
    resource('WorkloadEntry', 'v1', {
      address: '10.0.0.1',
      labels: { app: 'reviews', version: 'v1', 'security.istio.io/tlsMode': 'istio' },
      serviceAccount: 'reviews',
    }),
    resource('WorkloadEntry', 'v2', { address: '10.0.0.2', labels: { app: 'reviews', version: 'v2' } }),
  ],
  destinationRules: [
    resource('DestinationRule', 'reviews', {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        outlierDetection: { consecutive5xxErrors: 3, interval: '5s', baseEjectionTime: '15s', maxEjectionPercent: 50 },
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    }),
  ],
  virtualServices: [
    resource('VirtualService', 'reviews', {
      hosts: ['reviews'],
      http: [
        {
          name: 'canary',
          match: [{ headers: { 'x-canary': { exact: 'yes' } }, uri: { prefix: '/api' } }],
          rewrite: { uri: '/v2/api' },
          timeout: '3s',
          retries: { attempts: 3, perTryTimeout: '1s', retryOn: '5xx,reset' },
          fault: { abort: { httpStatus: 503, percentage: { value: 1.5 } } },
          route: [{ destination: { host: 'reviews', subset: 'v2' } }],
        },
        {
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight: 75 },
            { destination: { host: 'reviews', subset: 'v2' }, weight: 25 },
          ],
        },
      ],
    }),
  ],
  peerAuthentications: [resource('PeerAuthentication', 'default', { mtls: { mode: 'STRICT' } })],
  workloads: [],
};

const SIDECAR = {
  id: 'sidecar~10.0.0.9~productpage.default~default.svc.cluster.local',
  type: 'sidecar',
  namespace: 'default',
  serviceAccount: 'productpage',
  labels: {},
  ips: ['10.0.0.9'],
  sidecar: true,
} as ProxyNode;

const LISTENER = 'reviews.default.svc.cluster.local:9080';
const cluster = (subset: string) => `outbound|9080|${subset}|reviews.default.svc.cluster.local`;

describe("translation of Pilot's sidecar config", () => {
  let config: MeshConfig;
  before(() => {
    const generator = new ConfigGenerator(new EnvoyCodec());
    const types = new EnvoyTypes();
    const snapshot: RegistrySnapshot = buildRegistry(REGISTRY);
    const decoded = (type: 'LDS' | 'RDS' | 'CDS' | 'EDS', names: string[] | null) =>
      generator.generate(type, snapshot, SIDECAR, names).map((generated) => types.unpack(generated.resource));
    const listeners = decoded('LDS', null).map(translateListener);
    const clusters = decoded('CDS', null).map(translateCluster);
    const names = clusters.map((c) => c.edsServiceName!);
    config = assembleMeshConfig({
      versions: { listeners: '1', routes: '1', clusters: '1', endpoints: '1' },
      listeners,
      routes: decoded('RDS', [LISTENER]).map(translateRouteConfiguration),
      clusters,
      assignments: new Map(
        decoded('EDS', names)
          .map(translateClusterLoadAssignment)
          .map((a) => [a.clusterName, a.endpoints]),
      ),
      raw: {},
    });
  });

  it('has the outbound listener and its routes, reachable by a short name', () => {
    assert.deepEqual(config.listeners.get(LISTENER), {
      name: LISTENER,
      host: 'reviews.default.svc.cluster.local',
      port: 9080,
      routeConfigName: LISTENER,
    });
    const target = resolveOutbound(config, 'reviews:9080', undefined, 'default');
    assert.equal(target?.listener.name, LISTENER);
    const request = { method: 'GET', path: '/api/x', headers: { 'x-canary': 'yes' } };
    assert.equal(selectRoute(target!.virtualHost, request)?.name, 'canary');
    assert.equal(selectRoute(target!.virtualHost, { ...request, headers: {} })?.clusters.length, 2);
  });

  it("keeps the VirtualService's match, rewrite, timeout, retries, fault and weights", () => {
    const [canary, split] = config.routes.get(LISTENER)!.virtualHosts[0].routes;
    assert.equal(canary.match.prefix, '/api');
    assert.deepEqual(canary.match.headers, [{ name: 'x-canary', match: { exact: 'yes' } }]);
    assert.deepEqual(canary.clusters, [{ cluster: cluster('v2'), weight: 1 }]);
    assert.equal(canary.prefixRewrite, '/v2/api');
    assert.equal(canary.timeoutMs, 3_000);
    assert.equal(canary.retry?.numRetries, 3);
    assert.equal(canary.retry?.perTryTimeoutMs, 1_000);
    assert.ok(canary.retry?.retryOn.has('5xx') && canary.retry.retryOn.has('reset'));
    assert.deepEqual(canary.fault?.abort, { httpStatus: 503, percent: 1.5 });
    assert.deepEqual(split.clusters, [
      { cluster: cluster('v1'), weight: 75 },
      { cluster: cluster('v2'), weight: 25 },
    ]);
  });

  it("keeps the DestinationRule's policy and the endpoints, mTLS to the one with a sidecar", () => {
    const whole = config.clusters.get(cluster(''))!;
    assert.equal(whole.lbPolicy, 'ROUND_ROBIN');
    assert.deepEqual(
      [
        whole.outlier?.consecutive5xx,
        whole.outlier?.intervalMs,
        whole.outlier?.baseEjectionTimeMs,
        whole.outlier?.maxEjectionPercent,
      ],
      [3, 5_000, 15_000, 50],
    );
    assert.match(whole.tls?.sni ?? '', /^outbound_\.9080_\._\.reviews\.default\.svc\.cluster\.local$/);
    assert.deepEqual(
      config.endpoints.get(cluster(''))!.map((e) => [e.address, e.port, e.mtls]),
      [
        ['10.0.0.1', 9080, true],
        ['10.0.0.2', 9080, false],
      ],
    );
    assert.deepEqual(
      config.endpoints.get(cluster('v1'))!.map((e) => e.address),
      ['10.0.0.1'],
    );
  });

  it("reads the namespace's PeerAuthentication from virtualInbound", () => {
    assert.equal(config.inbound.defaultMode, 'STRICT');
    assert.equal(config.inbound.portModes.size, 0);
  });
});
