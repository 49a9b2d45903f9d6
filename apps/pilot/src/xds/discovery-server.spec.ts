import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import { SYSTEM_CLOCK } from '#libs/host';
import type { PilotConfig } from '../config';
import { PilotMetrics } from '../metrics/pilot-metrics';
import { type ConfigResource, ConfigStore } from '../registry/config-store';
import { ServiceRegistry } from '../registry/service-registry';
import { WorkloadRegistrations } from '../registry/workload-registrations';
import type { AdsCall } from './connection';
import { DiscoveryServer } from './discovery-server';
import { EnvoyCodec } from './envoy-codec';
import { type DiscoveryRequest, type DiscoveryResponse, TYPE_URLS } from './types';

const entry = (name: string, port: number, addresses: string[]): ConfigResource => ({
  kind: 'ServiceEntry',
  namespace: 'default',
  name,
  resourceVersion: 1,
  spec: {
    hosts: [`${name}.default.svc.cluster.local`],
    ports: [{ number: port, name: 'grpc' }],
    endpoints: addresses.map((address) => ({ address })),
  },
  labels: {},
});

const codec = new EnvoyCodec();

/** A stand-in for grpc-js's duplex call: records what the server writes (encoded), decoded as a client would. */
class FakeCall extends EventEmitter {
  readonly written: DiscoveryResponse[] = [];
  write(response: Buffer): boolean {
    assert.ok(Buffer.isBuffer(response), 'responses are written encoded');
    this.written.push(codec.decodeResponse(response));
    return true;
  }
  end(): void {
    this.emit('close');
  }
  send(request: Partial<DiscoveryRequest>): void {
    this.emit('data', {
      version_info: '',
      node: null,
      resource_names: [],
      type_url: TYPE_URLS.EDS,
      response_nonce: '',
      error_detail: null,
      ...request,
    });
  }
}

const node = (name: string) => ({
  id: `sidecar~10.0.0.9~${name}.default~default.svc.cluster.local`,
  cluster: '',
  metadata: null,
});
const settle = () => new Promise((r) => setTimeout(r, 60));

describe('DiscoveryServer', () => {
  const config = { debounce: 20, disconnectGrace: 1_000 } as PilotConfig;
  const metricsRegistry = new Registry();
  const metrics = new PilotMetrics(metricsRegistry);
  const store = new ConfigStore();
  const workloads = new WorkloadRegistrations(config, SYSTEM_CLOCK);
  const registry = new ServiceRegistry(store, workloads, metrics);
  const server = new DiscoveryServer(config, SYSTEM_CLOCK, registry, workloads, metrics);
  const echoCluster = 'outbound|7070||echo.default.svc.cluster.local';
  const otherCluster = 'outbound|80||other.default.svc.cluster.local';
  const a = new FakeCall();
  const b = new FakeCall();

  before(() => {
    Logger.overrideLogger(false);
    registry.onModuleInit();
    server.onModuleInit();
    store.replace([entry('echo', 7070, ['10.0.0.1']), entry('other', 80, ['10.0.1.1'])], 1);
    server.open(a as unknown as AdsCall);
    server.open(b as unknown as AdsCall);
  });
  after(() => server.onModuleDestroy());

  const statusOf = (call: FakeCall) =>
    server
      .list()
      .find((c) => (c.call as unknown) === call)!
      .status('EDS');

  it('answers a subscription, and an ACK makes it SYNCED', () => {
    a.send({ node: node('a'), resource_names: [echoCluster] });
    b.send({ node: node('b'), resource_names: [otherCluster] });
    assert.equal(a.written.length, 1);
    assert.equal(a.written[0].resources.length, 1);
    assert.equal(statusOf(a), 'STALE');
    for (const call of [a, b]) {
      const last = call.written.at(-1)!;
      call.send({
        version_info: last.version_info,
        response_nonce: last.nonce,
        resource_names: call === a ? [echoCluster] : [otherCluster],
      });
    }
    assert.equal(statusOf(a), 'SYNCED');
    assert.equal(statusOf(b), 'SYNCED');
  });

  it('debounces a burst of changes into one push, only to the streams whose resources changed', async () => {
    store.apply('upsert', entry('echo', 7070, ['10.0.0.1', '10.0.0.2']), 2);
    store.apply('upsert', entry('echo', 7070, ['10.0.0.1', '10.0.0.2', '10.0.0.3']), 3);
    store.apply('upsert', entry('unrelated', 9000, ['10.0.2.1']), 4);
    await settle();
    assert.equal(a.written.length, 2, 'one push for the burst');
    assert.equal(b.written.length, 1, 'nothing changed for b');
    assert.notEqual(a.written[1].version_info, a.written[0].version_info);
    assert.equal(statusOf(a), 'STALE');
  });

  it('records a NACK, does not re-send the rejected config, and ignores stale nonces', async () => {
    const rejected = a.written[1];
    a.send({
      version_info: a.written[0].version_info,
      response_nonce: rejected.nonce,
      resource_names: [echoCluster],
      error_detail: { code: 3, message: 'bad endpoints' },
    });
    assert.equal(statusOf(a), 'NACK');
    const connection = server.list().find((c) => (c.call as unknown) === a)!;
    assert.equal(connection.subscriptions.get('EDS')!.ackedVersion, a.written[0].version_info);
    a.send({ version_info: 'x', response_nonce: a.written[0].nonce, resource_names: [echoCluster, otherCluster] });
    store.apply('upsert', entry('unrelated', 9000, ['10.0.2.2']), 5);
    await settle();
    assert.equal(a.written.length, 2, 'no re-send of the NACKed config, no answer to a stale nonce');
    assert.match(await metricsRegistry.metrics(), /bowline_pilot_xds_rejects_total\{type="eds"\} 1/);
  });

  it('pushes a PeerAuthentication change to sidecars (virtualInbound), not to proxyless clients', async () => {
    const sidecar = new FakeCall();
    const proxyless = new FakeCall();
    server.open(sidecar as unknown as AdsCall);
    server.open(proxyless as unknown as AdsCall);
    const metadata = { fields: { BOWLINE_PROXY: { stringValue: 'sidecar', kind: 'stringValue' } } };
    sidecar.send({ node: { ...node('s'), metadata }, type_url: TYPE_URLS.LDS });
    proxyless.send({ node: node('p'), type_url: TYPE_URLS.LDS });
    const names = (call: FakeCall) => call.written.at(-1)!.resources.length;
    assert.equal(names(sidecar), names(proxyless) + 1, 'the sidecar also gets virtualInbound');
    for (const call of [sidecar, proxyless]) {
      const last = call.written.at(-1)!;
      call.send({ type_url: TYPE_URLS.LDS, version_info: last.version_info, response_nonce: last.nonce });
    }
    const peerAuthentication: ConfigResource = {
      kind: 'PeerAuthentication',
      namespace: 'default',
      name: 'default',
      resourceVersion: 6,
      spec: { mtls: { mode: 'STRICT' } },
      labels: {},
    };
    store.apply('upsert', peerAuthentication, 6);
    await settle();
    assert.equal(sidecar.written.length, 2, 'the sidecar gets the STRICT virtualInbound');
    assert.equal(proxyless.written.length, 1, 'nothing changed for the proxyless client');
    sidecar.emit('cancelled');
    proxyless.emit('cancelled');
  });

  it('answers a change of subscription at once, and drops a closed stream', () => {
    const last = a.written.at(-1)!;
    a.send({
      version_info: last.version_info,
      response_nonce: last.nonce,
      resource_names: [echoCluster, otherCluster],
    });
    assert.equal(a.written.length, 3);
    assert.equal(a.written[2].resources.length, 2);
    b.emit('cancelled');
    assert.equal(server.list().length, 1);
  });
});

describe('DiscoveryServer: RDS and EDS pushes carry only what changed', () => {
  const config = { debounce: 20, disconnectGrace: 1_000 } as PilotConfig;
  const metrics = new PilotMetrics(new Registry());
  const store = new ConfigStore();
  const workloads = new WorkloadRegistrations(config, SYSTEM_CLOCK);
  const registry = new ServiceRegistry(store, workloads, metrics);
  const server = new DiscoveryServer(config, SYSTEM_CLOCK, registry, workloads, metrics);
  const clusters = ['outbound|7070||echo.default.svc.cluster.local', 'outbound|80||other.default.svc.cluster.local'];
  const call = new FakeCall();
  const names = (response: DiscoveryResponse) => response.resources.map((r) => codec.unpack(r).cluster_name as string);
  const ack = (response = call.written.at(-1)!) =>
    call.send({ version_info: response.version_info, response_nonce: response.nonce, resource_names: clusters });

  before(() => {
    Logger.overrideLogger(false);
    registry.onModuleInit();
    server.onModuleInit();
    store.replace([entry('echo', 7070, ['10.0.0.1']), entry('other', 80, ['10.0.1.1'])], 1);
    server.open(call as unknown as AdsCall);
    call.send({ node: node('c'), resource_names: clusters });
    ack();
  });
  after(() => server.onModuleDestroy());

  it('sends everything first, then only the changed cluster, with a version for the whole state', async () => {
    assert.deepEqual(names(call.written[0]).sort(), clusters.slice().sort());
    store.apply('upsert', entry('echo', 7070, ['10.0.0.1', '10.0.0.2']), 2);
    await settle();
    assert.equal(call.written.length, 2);
    assert.deepEqual(names(call.written[1]), [clusters[0]]);
    assert.notEqual(call.written[1].version_info, call.written[0].version_info);
    ack();
  });

  it('after a NACK, the next push carries everything again', async () => {
    store.apply('upsert', entry('echo', 7070, ['10.0.0.3']), 3);
    await settle();
    const rejected = call.written.at(-1)!;
    assert.deepEqual(names(rejected), [clusters[0]]);
    call.send({
      version_info: call.written[1].version_info,
      response_nonce: rejected.nonce,
      resource_names: clusters,
      error_detail: { code: 3, message: 'bad endpoints' },
    });
    store.apply('upsert', entry('other', 80, ['10.0.1.2']), 4);
    await settle();
    assert.deepEqual(names(call.written.at(-1)!).sort(), clusters.slice().sort());
    ack();
  });

  it('a NACK of a response already superseded makes Pilot resend everything at once', async () => {
    store.apply('upsert', entry('echo', 7070, ['10.0.0.4']), 5);
    await settle();
    const first = call.written.at(-1)!;
    store.apply('upsert', entry('other', 80, ['10.0.1.3']), 6);
    await settle();
    const count = call.written.length;
    assert.deepEqual(names(call.written.at(-1)!), [clusters[1]]);
    call.send({
      version_info: '',
      response_nonce: first.nonce,
      resource_names: clusters,
      error_detail: { code: 3, message: 'bad endpoints' },
    });
    assert.equal(call.written.length, count + 1);
    assert.deepEqual(names(call.written.at(-1)!).sort(), clusters.slice().sort());
  });
});
