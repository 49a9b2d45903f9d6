import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRegistry, findService, type RegistryInputs, shareUnchanged } from './build-registry';
import type { ConfigResource, WatchedKind } from './config-store';
import type { RegisteredWorkload } from './workload-registrations';

const resource = (
  kind: WatchedKind,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): ConfigResource => ({
  kind,
  namespace,
  name,
  resourceVersion: 1,
  spec,
  labels: {},
});

const workload = (over: Partial<RegisteredWorkload>): RegisteredWorkload => ({
  nodeId: 'sidecar~10.0.0.9~w.default~default.svc.cluster.local',
  namespace: 'default',
  serviceAccount: 'w',
  labels: {},
  address: '10.0.0.9',
  ports: new Map(),
  healthy: true,
  connections: 1,
  ...over,
});

const inputs = (over: Partial<RegistryInputs>): RegistryInputs => ({
  serviceEntries: [],
  workloadEntries: [],
  virtualServices: [],
  destinationRules: [],
  workloads: [],
  ...over,
});

const echoEntry = resource('ServiceEntry', 'default', 'echo', {
  hosts: ['echo.default.svc.cluster.local'],
  ports: [{ number: 7070, name: 'grpc', protocol: 'GRPC' }],
  resolution: 'STATIC',
  workloadSelector: { labels: { app: 'echo' } },
});

describe('buildRegistry', () => {
  it('selects WorkloadEntries and registered workloads of the ServiceEntry namespace by label', () => {
    const snapshot = buildRegistry(
      inputs({
        serviceEntries: [echoEntry],
        workloadEntries: [
          resource('WorkloadEntry', 'default', 'a', {
            address: '10.0.0.1',
            labels: { app: 'echo' },
            ports: { grpc: 9000 },
          }),
          resource('WorkloadEntry', 'other', 'b', { address: '10.0.0.2', labels: { app: 'echo' } }),
          resource('WorkloadEntry', 'default', 'c', { address: '10.0.0.3', labels: { app: 'web' } }),
        ],
        workloads: [workload({ labels: { app: 'echo' }, healthy: false })],
      }),
    );
    const echo = snapshot.services.get('echo.default.svc.cluster.local')!;
    assert.deepEqual(
      echo.endpoints.map((e) => [e.source, e.address, e.healthy]),
      [
        ['WorkloadEntry default/a', '10.0.0.1', true],
        ['xds sidecar~10.0.0.9~w.default~default.svc.cluster.local', '10.0.0.9', false],
      ],
    );
    assert.deepEqual(echo.endpoints[0].ports, { grpc: 9000 });
  });

  it('takes STATIC endpoints as written and resolves DestinationRule and VirtualService short hosts', () => {
    const snapshot = buildRegistry(
      inputs({
        serviceEntries: [
          resource('ServiceEntry', 'shop', 'db', {
            hosts: ['db.shop.svc.cluster.local'],
            ports: [{ number: 5432, name: 'tcp' }],
            endpoints: [{ address: '10.1.0.1' }, { address: '10.1.0.2', labels: { version: 'v2' } }],
          }),
        ],
        destinationRules: [
          resource('DestinationRule', 'shop', 'db', {
            host: 'db',
            subsets: [{ name: 'v2', labels: { version: 'v2' } }],
          }),
        ],
        virtualServices: [
          resource('VirtualService', 'shop', 'db', { hosts: ['db'] }),
          resource('VirtualService', 'shop', 'edge', { hosts: ['db'], gateways: ['ingress'] }),
        ],
      }),
    );
    assert.equal(snapshot.services.get('db.shop.svc.cluster.local')!.endpoints.length, 2);
    assert.deepEqual(Object.fromEntries(snapshot.subsets.get('db.shop.svc.cluster.local')!), { v2: { version: 'v2' } });
    assert.deepEqual(
      snapshot.virtualServices.get('db.shop.svc.cluster.local')!.map((vs) => vs.name),
      ['db'],
      'a VirtualService bound only to a gateway does not apply to sidecars',
    );
  });

  it('creates a service for workloads declaring one, and joins them to a ServiceEntry that exists', () => {
    const declared = workload({ service: 'ratings', ports: new Map([[9080, 19080]]) });
    const joining = workload({
      nodeId: 'sidecar~10.0.0.8~e.default~default.svc.cluster.local',
      address: '10.0.0.8',
      service: 'echo',
      ports: new Map([[7070, 17070]]),
    });
    const snapshot = buildRegistry(inputs({ serviceEntries: [echoEntry], workloads: [declared, joining] }));
    const ratings = snapshot.services.get('ratings.default.svc.cluster.local')!;
    assert.equal(ratings.source, 'xds');
    assert.deepEqual(ratings.ports, [{ number: 9080, name: '9080', protocol: 'GRPC' }]);
    assert.deepEqual(ratings.endpoints[0].ports, { 9080: 19080 });
    const echo = snapshot.services.get('echo.default.svc.cluster.local')!;
    assert.deepEqual(
      echo.endpoints.map((e) => e.address),
      ['10.0.0.8'],
    );
  });

  it("keeps the DestinationRule of each host, every PeerAuthentication, and each endpoint's namespace", () => {
    const first = resource('DestinationRule', 'default', 'a-echo', { host: 'echo', trafficPolicy: {} });
    const second = resource('DestinationRule', 'default', 'b-echo', { host: 'echo.default.svc.cluster.local' });
    const strict = resource('PeerAuthentication', 'istio-system', 'mesh', { mtls: { mode: 'STRICT' } });
    const snapshot = buildRegistry(
      inputs({
        serviceEntries: [echoEntry],
        workloadEntries: [resource('WorkloadEntry', 'default', 'a', { address: '10.0.0.1', labels: { app: 'echo' } })],
        workloads: [workload({ labels: { app: 'echo' } })],
        destinationRules: [first, second],
        peerAuthentications: [strict],
      }),
    );
    assert.equal(
      snapshot.destinationRules.get('echo.default.svc.cluster.local'),
      first,
      'the first rule for a host wins',
    );
    assert.deepEqual(snapshot.peerAuthentications, [strict]);
    assert.deepEqual(
      snapshot.services.get('echo.default.svc.cluster.local')!.endpoints.map((e) => e.namespace),
      ['default', 'default'],
    );
    assert.deepEqual(buildRegistry(inputs({})).peerAuthentications, [], 'no PeerAuthentications when none are given');
  });

  it('finds a service by the short names a client in a namespace may use', () => {
    const snapshot = buildRegistry(inputs({ serviceEntries: [echoEntry] }));
    for (const name of ['echo', 'echo.default', 'echo.default.svc', 'echo.default.svc.cluster.local']) {
      assert.equal(findService(snapshot, name, 'default')?.host, 'echo.default.svc.cluster.local', name);
    }
    assert.equal(findService(snapshot, 'echo', 'other'), undefined);
  });

  it('shares with the previous snapshot every part a change left equal', () => {
    const vs = (weight: number) =>
      resource('VirtualService', 'default', 'echo', {
        hosts: ['echo'],
        http: [{ route: [{ destination: { host: 'echo' }, weight }] }],
      });
    const base = inputs({
      serviceEntries: [resource('ServiceEntry', 'default', 'echo', { hosts: ['echo.default.svc.cluster.local'] })],
      virtualServices: [vs(100)],
    });
    const first = buildRegistry(base);
    const second = shareUnchanged(first, buildRegistry({ ...base, virtualServices: [vs(90)] }));
    assert.equal(second.services, first.services);
    assert.equal(second.destinationRules, first.destinationRules);
    assert.equal(second.peerAuthentications, first.peerAuthentications);
    assert.notEqual(second.virtualServices, first.virtualServices);
    assert.equal(
      (second.virtualServices.get('echo.default.svc.cluster.local')![0].spec as any).http[0].route[0].weight,
      90,
    );
  });
});
