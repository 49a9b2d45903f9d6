import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRegistry, type RegistryInputs, type RegistrySnapshot, shareUnchanged } from '../registry/build-registry';
import { configResource as resource, PROXYLESS_NODE } from '../registry/testing';
import { ConfigGenerator } from './config-generator';
import { EnvoyCodec } from './envoy-codec';
import type { ProxyNode } from './node';
import type { XdsType } from './types';

const entry = (addresses: string[]) =>
  resource('ServiceEntry', 'echo', {
    hosts: ['echo.default.svc.cluster.local'],
    ports: [{ number: 8080, name: 'http', protocol: 'HTTP' }],
    endpoints: addresses.map((address) => ({ address, labels: { version: 'v1' } })),
  });
const rule = (lb: string) =>
  resource('DestinationRule', 'echo', {
    host: 'echo',
    trafficPolicy: { loadBalancer: { simple: lb } },
    subsets: [{ name: 'v1', labels: { version: 'v1' } }],
  });
const split = (v1: number) =>
  resource('VirtualService', 'echo', {
    hosts: ['echo'],
    http: [
      {
        route: [
          { destination: { host: 'echo', subset: 'v1' }, weight: v1 },
          { destination: { host: 'echo' }, weight: 100 - v1 },
        ],
      },
    ],
  });

const INPUTS: RegistryInputs = {
  serviceEntries: [entry(['10.0.0.1'])],
  workloadEntries: [],
  virtualServices: [split(90)],
  destinationRules: [rule('RANDOM')],
  workloads: [],
};

const PROXYLESS = PROXYLESS_NODE;
const SIDECAR: ProxyNode = { ...PROXYLESS, sidecar: true };
const LISTENER = 'echo.default.svc.cluster.local:8080';
const TYPES: XdsType[] = ['LDS', 'RDS', 'CDS', 'EDS'];

/** What Envoy asks for: every listener and cluster (wildcards), then their routes and endpoints. */
function answers(generator: ConfigGenerator, snapshot: RegistrySnapshot, node: ProxyNode) {
  const names = (type: XdsType) =>
    type === 'RDS'
      ? [LISTENER]
      : type === 'EDS'
        ? generator.generate('CDS', snapshot, node, null).map((c) => c.name)
        : null;
  return Object.fromEntries(TYPES.map((type) => [type, generator.generate(type, snapshot, node, names(type))]));
}

describe('ConfigGenerator across snapshots', () => {
  const codec = new EnvoyCodec();
  const next = (previous: RegistrySnapshot, change: Partial<RegistryInputs>) =>
    shareUnchanged(previous, buildRegistry({ ...INPUTS, ...change }));
  const weights = (generated: ReturnType<typeof answers>) =>
    (codec.unpack(generated.RDS[0].resource) as any).virtual_hosts[0].routes[0].route.weighted_clusters.clusters.map(
      (c: { weight: { value: number } }) => c.weight.value,
    );

  it('rebuilds only the routes when only a VirtualService changed; the other answers stay the same', () => {
    const generator = new ConfigGenerator(codec);
    const first = buildRegistry(INPUTS);
    const second = next(first, { virtualServices: [split(50)] });
    for (const node of [PROXYLESS, SIDECAR]) {
      const before = answers(generator, first, node);
      const after = answers(generator, second, node);
      for (const type of ['LDS', 'CDS', 'EDS'] as const) assert.equal(after[type], before[type], `${type} kept`);
      assert.notEqual(after.RDS, before.RDS);
      assert.deepEqual(weights(before), [90, 10]);
      assert.deepEqual(weights(after), [50, 50]);
    }
  });

  it("rebuilds a sidecar's clusters when its DestinationRule changed, and keeps its routes", () => {
    const generator = new ConfigGenerator(codec);
    const first = buildRegistry(INPUTS);
    const second = next(first, { destinationRules: [rule('LEAST_CONN')] });
    const before = answers(generator, first, SIDECAR);
    const after = answers(generator, second, SIDECAR);
    assert.equal(after.RDS, before.RDS);
    const policies = (generated: ReturnType<typeof answers>) =>
      generated.CDS.map((c) => (codec.unpack(c.resource) as { lb_policy?: string }).lb_policy);
    assert.deepEqual(policies(before), ['RANDOM', 'RANDOM']);
    assert.deepEqual(policies(after), ['LEAST_REQUEST', 'LEAST_REQUEST']);
  });

  it('serves new endpoints after a ServiceEntry change, and the same resources where nothing changed', () => {
    const generator = new ConfigGenerator(codec);
    const first = buildRegistry(INPUTS);
    const second = next(first, { serviceEntries: [entry(['10.0.0.1', '10.0.0.2'])] });
    const before = answers(generator, first, PROXYLESS);
    const after = answers(generator, second, PROXYLESS);
    const addresses = (generated: ReturnType<typeof answers>) =>
      generated.EDS.map((e) =>
        (codec.unpack(e.resource) as any).endpoints[0].lb_endpoints.map(
          (lb: any) => lb.endpoint.address.socket_address.address,
        ),
      );
    assert.deepEqual(addresses(before), [['10.0.0.1'], ['10.0.0.1']]);
    assert.deepEqual(addresses(after), [
      ['10.0.0.1', '10.0.0.2'],
      ['10.0.0.1', '10.0.0.2'],
    ]);
    assert.deepEqual(
      after.LDS.map((l) => l.digest),
      before.LDS.map((l) => l.digest),
      'the same listeners',
    );
  });
});
