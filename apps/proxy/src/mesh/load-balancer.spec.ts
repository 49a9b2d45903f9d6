import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '#libs/host';
import { EndpointPicker, LoadBalancers } from './load-balancer';
import { type Cluster, DEFAULT_LIMITS, EMPTY_MESH_CONFIG, type Endpoint, type LbPolicy } from './model';

/** A clock tests move by hand. */
class ManualClock implements Clock {
  ms = Date.parse('2030-01-01T00:00:00Z');
  now(): Date {
    return new Date(this.ms);
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

const OUTLIER = { consecutive5xx: 3, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 50 };
const cluster = (lbPolicy: LbPolicy = 'ROUND_ROBIN', extra: Partial<Cluster> = {}): Cluster => ({
  name: 'outbound|80||svc',
  lbPolicy,
  connectTimeoutMs: 5_000,
  limits: DEFAULT_LIMITS,
  http2: false,
  ...extra,
});
const endpoints = (count: number, weight = () => 1): Endpoint[] =>
  Array.from({ length: count }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 80, weight: weight(), mtls: false }));
const sequence = (values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length];
};
const countPicks = (picker: EndpointPicker, times: number) => {
  const counts: Record<string, number> = {};
  for (let i = 0; i < times; i++) {
    const address = picker.pick()!.address;
    counts[address] = (counts[address] ?? 0) + 1;
  }
  return counts;
};
const fail = (picker: EndpointPicker, endpoint: Endpoint, times: number, outcome = { status: 503 }) => {
  for (let i = 0; i < times; i++) {
    picker.begin(endpoint);
    picker.end(endpoint, outcome);
  }
};

describe('EndpointPicker', () => {
  it('round-robins evenly, and by weight when weights differ', () => {
    assert.deepEqual(countPicks(new EndpointPicker(cluster(), endpoints(3)), 300), {
      '10.0.0.1': 100,
      '10.0.0.2': 100,
      '10.0.0.3': 100,
    });
    const weights = sequence([3, 1]);
    const weighted = new EndpointPicker(cluster(), endpoints(2, weights));
    const order = Array.from({ length: 4 }, () => weighted.pick()!.address);
    assert.deepEqual(order.sort(), ['10.0.0.1', '10.0.0.1', '10.0.0.1', '10.0.0.2'], 'smooth: 3 to 1 in each cycle');
  });

  it('picks the less busy of two random hosts for LEAST_REQUEST', () => {
    const hosts = endpoints(3);
    const picker = new EndpointPicker(cluster('LEAST_REQUEST'), hosts, undefined, sequence([0, 0.5]));
    picker.begin(hosts[0]);
    picker.begin(hosts[0]);
    assert.equal(picker.activeRequests, 2);
    assert.equal(picker.pick()!.address, '10.0.0.3', 'hosts 1 and 3 drawn; 3 has fewer requests');
    picker.end(hosts[0], { status: 200 });
    picker.end(hosts[0], { status: 200 });
    assert.equal(picker.pick()!.address, '10.0.0.1', 'a tie goes to the first draw');
  });

  it('picks uniformly at random for RANDOM, and avoids an excluded endpoint', () => {
    const hosts = endpoints(4);
    const picker = new EndpointPicker(cluster('RANDOM'), hosts, undefined, sequence([0.99, 0.26]));
    assert.equal(picker.pick()!.address, '10.0.0.4');
    assert.equal(picker.pick()!.address, '10.0.0.2');
    const single = new EndpointPicker(cluster('RANDOM'), hosts.slice(0, 2), undefined, () => 0);
    assert.equal(single.pick(hosts[0])!.address, '10.0.0.2');
    assert.equal(new EndpointPicker(cluster(), []).pick(), undefined);
  });

  it('ejects a host after consecutive 5xx or local failures, and brings it back after the ejection time', () => {
    const clock = new ManualClock();
    const hosts = endpoints(4);
    const picker = new EndpointPicker(cluster('ROUND_ROBIN', { outlier: OUTLIER }), hosts, clock);
    fail(picker, hosts[0], 2);
    picker.end(hosts[0], { status: 200 }); // a success resets the count
    fail(picker, hosts[0], 2);
    assert.equal(picker.stats().ejectionsActive, 0);
    fail(picker, hosts[0], 1, { connectFailure: true } as never);
    assert.equal(picker.stats().ejectionsActive, 1);
    assert.ok(!Object.keys(countPicks(picker, 30)).includes('10.0.0.1'), 'skipped while ejected');
    clock.advance(29_999);
    assert.equal(picker.stats().endpoints[0].ejected, true);
    clock.advance(1);
    assert.equal(picker.stats().endpoints[0].ejected, false, 'back after base_ejection_time');
    assert.ok(Object.keys(countPicks(picker, 4)).includes('10.0.0.1'));

    fail(picker, hosts[0], 3, { reset: true } as never);
    const second = picker.stats().endpoints[0];
    assert.equal(second.ejections, 2);
    assert.equal(second.ejectedUntil!.getTime() - clock.ms, 60_000, 'base time × times ejected');
  });

  it('never ejects more than max_ejection_percent, but always allows the first ejection', () => {
    const clock = new ManualClock();
    const hosts = endpoints(4);
    const picker = new EndpointPicker(
      cluster('ROUND_ROBIN', { outlier: { ...OUTLIER, maxEjectionPercent: 10 } }),
      hosts,
      clock,
    );
    fail(picker, hosts[0], 3);
    fail(picker, hosts[1], 3);
    const stats = picker.stats();
    assert.equal(stats.ejectionsActive, 1, '0% ejected < 10%: one; 25% ≥ 10%: no more');
    assert.equal(stats.ejectionsOverflow, 1);
    const half = new EndpointPicker(cluster('ROUND_ROBIN', { outlier: OUTLIER }), hosts, clock);
    for (const host of hosts) fail(half, host, 3);
    assert.equal(half.stats().ejectionsActive, 2, '50% of 4 hosts');
  });

  it('uses every host below the panic threshold, none when the threshold is 0', () => {
    const clock = new ManualClock();
    const hosts = endpoints(2);
    const outlier = { ...OUTLIER, maxEjectionPercent: 100 };
    const panic = new EndpointPicker(cluster('ROUND_ROBIN', { outlier }), hosts, clock);
    fail(panic, hosts[0], 3);
    fail(panic, hosts[1], 3);
    assert.equal(panic.stats().ejectionsActive, 2);
    assert.equal(Object.keys(countPicks(panic, 4)).length, 2, 'panic mode: all hosts');
    const strict = new EndpointPicker(
      cluster('ROUND_ROBIN', { outlier, healthyPanicThresholdPercent: 0 }),
      hosts,
      clock,
    );
    fail(strict, hosts[0], 3);
    assert.deepEqual(Object.keys(countPicks(strict, 4)), ['10.0.0.2']);
    fail(strict, hosts[1], 3);
    assert.equal(strict.pick(), undefined, 'no host to use');
  });

  it('keeps counters and ejections across updates for endpoints that stay', () => {
    const clock = new ManualClock();
    const hosts = endpoints(3);
    const picker = new EndpointPicker(cluster('ROUND_ROBIN', { outlier: OUTLIER }), hosts, clock);
    fail(picker, hosts[0], 3);
    picker.begin(hosts[1]);
    picker.update(cluster('ROUND_ROBIN', { outlier: OUTLIER }), [
      hosts[0],
      hosts[1],
      { ...hosts[2], address: '10.0.0.9' },
    ]);
    const stats = picker.stats();
    assert.deepEqual(
      stats.endpoints.map((e) => [e.address, e.ejected, e.activeRequests]),
      [
        ['10.0.0.1', true, 0],
        ['10.0.0.2', false, 1],
        ['10.0.0.9', false, 0],
      ],
    );
    picker.end(hosts[2], { status: 503 }); // a removed endpoint: ignored
    picker.update(cluster('ROUND_ROBIN'), hosts);
    assert.equal(picker.stats().ejectionsActive, 0, 'outlier detection removed: ejections lifted');
  });
});

describe('LoadBalancers', () => {
  it('keeps one picker per cluster across configs, and drops the ones of removed clusters', () => {
    const balancers = new LoadBalancers({ random: () => 0 });
    const a = cluster('ROUND_ROBIN', { name: 'a' });
    const b = cluster('RANDOM', { name: 'b' });
    const config = (clusters: Cluster[], count: number) => ({
      ...EMPTY_MESH_CONFIG,
      clusters: new Map(clusters.map((c) => [c.name, c])),
      endpoints: new Map(clusters.map((c) => [c.name, endpoints(count)])),
    });
    balancers.update(config([a, b], 1));
    const picker = balancers.get('a')!;
    balancers.update(config([a], 2));
    assert.equal(balancers.get('a'), picker, 'same picker');
    assert.equal(picker.stats().endpoints.length, 2, 'endpoints refreshed');
    assert.equal(balancers.get('b'), undefined);
    assert.deepEqual(
      balancers.stats().map((s) => s.cluster),
      ['a'],
    );
  });
});
