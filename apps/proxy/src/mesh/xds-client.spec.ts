import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServiceDefinition,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import { createLogger } from '#libs/logging';
import { fromStruct, type ProtoStruct } from '#libs/proto';
import { envoyTypes, type TypedMessage } from './envoy-types';
import type { MeshConfig } from './model';
import { adsPackageDefinition, XdsClient } from './xds-client';
import { type DiscoveryRequest, type DiscoveryResponse, XDS_TYPE_URLS, type XdsType } from './xds-state';

const LISTENER = 'reviews.default.svc.cluster.local:9080';
const CLUSTER = 'outbound|9080||reviews.default.svc.cluster.local';
const OTHER = 'outbound|9080|v2|reviews.default.svc.cluster.local';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

const typed = (type: XdsType, fields: Record<string, unknown>): TypedMessage => ({
  '@type': XDS_TYPE_URLS[type],
  ...fields,
});
const cluster = (name: string, extra: Record<string, unknown> = {}) =>
  typed('CDS', { name, type: 'EDS', eds_cluster_config: { service_name: name }, ...extra });
const assignment = (name: string, address: string) =>
  typed('EDS', {
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address, port_value: 9080 } } } }] }],
  });
const RESOURCES: Record<XdsType, TypedMessage[]> = {
  CDS: [cluster(CLUSTER)],
  EDS: [assignment(CLUSTER, '10.0.0.1'), assignment(OTHER, '10.0.0.2')],
  LDS: [
    typed('LDS', {
      name: LISTENER,
      api_listener: { api_listener: { '@type': HCM, rds: { route_config_name: LISTENER } } },
    }),
  ],
  RDS: [
    typed('RDS', {
      name: LISTENER,
      virtual_hosts: [
        { name: 'reviews', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: CLUSTER } }] },
      ],
    }),
  ],
};

type Call = ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;
interface Stream {
  readonly call: Call;
  readonly requests: DiscoveryRequest[];
  readonly names: Map<string, string>;
}
interface Sent {
  readonly stream: Stream;
  readonly type: XdsType;
  readonly response: DiscoveryResponse;
}

/** A tiny ADS server: answers new or changed subscriptions with its current resources of the type. */
class FakePilot {
  readonly streams: Stream[] = [];
  readonly sent: Sent[] = [];
  resources = { ...RESOURCES };
  versions: Record<XdsType, string> = { CDS: 'c1', EDS: 'e1', LDS: 'l1', RDS: 'r1' };
  /** Types it never answers. */
  readonly withheld = new Set<XdsType>();
  private readonly server = new Server();
  private nonce = 0;

  async start(): Promise<string> {
    const proto = loadPackageDefinition(adsPackageDefinition()) as unknown as {
      envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: { service: ServiceDefinition } } } } };
    };
    this.server.addService(proto.envoy.service.discovery.v3.AggregatedDiscoveryService.service, {
      StreamAggregatedResources: (call: Call) => this.open(call),
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    return `127.0.0.1:${port}`;
  }

  stop(): void {
    this.server.forceShutdown();
  }

  /** Sends the current state of `type` to every open stream. */
  push(type: XdsType): void {
    for (const stream of this.streams) if (!stream.call.cancelled) this.respond(stream, type);
  }

  /** Ends every stream with UNAVAILABLE. */
  failStreams(): void {
    for (const stream of this.streams) {
      stream.call.emit('error', { code: GrpcStatus.UNAVAILABLE, details: 'Pilot is restarting' });
    }
  }

  /** The requests that answered a response: ACK (no error) or NACK. */
  answersTo(sent: Sent): DiscoveryRequest[] {
    return sent.stream.requests.filter(
      (r) => r.response_nonce === sent.response.nonce && r.type_url === XDS_TYPE_URLS[sent.type],
    );
  }

  private open(call: Call): void {
    const stream: Stream = { call, requests: [], names: new Map() };
    this.streams.push(stream);
    call.on('data', (request: DiscoveryRequest) => this.onRequest(stream, request));
    call.on('error', () => undefined);
    call.on('end', () => call.end());
  }

  private onRequest(stream: Stream, request: DiscoveryRequest): void {
    stream.requests.push(request);
    const type = (Object.keys(XDS_TYPE_URLS) as XdsType[]).find((t) => XDS_TYPE_URLS[t] === request.type_url)!;
    const names = (request.resource_names ?? []).join(',');
    const changed = stream.names.get(type) !== names;
    stream.names.set(type, names);
    if (!request.response_nonce || changed) this.respond(stream, type);
  }

  private respond(stream: Stream, type: XdsType): void {
    if (this.withheld.has(type)) return;
    const wanted = (stream.names.get(type) ?? '').split(',');
    const nameOf = (r: TypedMessage) => String(r.name ?? r.cluster_name);
    const resources = this.resources[type].filter(
      (r) => type === 'CDS' || type === 'LDS' || wanted.includes(nameOf(r)),
    );
    const response = {
      version_info: this.versions[type],
      resources: resources.map((r) => envoyTypes().pack(r)),
      type_url: XDS_TYPE_URLS[type],
      nonce: String(++this.nonce),
    };
    stream.call.write(response);
    this.sent.push({ stream, type, response });
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const logger = createLogger('xds-client-spec', 'silent');
const NODE = {
  id: 'sidecar~10.0.0.9~productpage.default~default.svc.cluster.local',
  cluster: 'productpage',
  metadata: { NAMESPACE: 'default', BOWLINE_PROXY: 'sidecar' },
};

describe('XdsClient', () => {
  const pilot = new FakePilot();
  const configs: MeshConfig[] = [];
  let client: XdsClient;

  before(async () => {
    const address = await pilot.start();
    client = new XdsClient({
      address,
      node: NODE,
      logger,
      onConfig: (config) => configs.push(config),
      backoff: { initialMs: 20, maxMs: 100 },
    });
    client.start();
  });
  after(() => {
    client.stop();
    pilot.stop();
  });

  it('subscribes like Envoy (CDS, then EDS for its clusters; LDS, then RDS for its routes), ACKs, and publishes once complete', async () => {
    const config = await waitFor('a config', () => configs[0]);
    const [stream] = pilot.streams;
    const first = stream.requests[0];
    assert.equal(first.type_url, XDS_TYPE_URLS.CDS);
    assert.equal(first.node?.id, NODE.id);
    assert.equal(first.node?.user_agent_name, 'bowline-proxy');
    assert.deepEqual(fromStruct(first.node?.metadata as ProtoStruct), NODE.metadata);
    assert.ok(
      stream.requests.slice(1).every((r) => !r.node),
      'the node only in the first request',
    );
    const subscribed = (type: XdsType) =>
      stream.requests.find((r) => r.type_url === XDS_TYPE_URLS[type])?.resource_names ?? [];
    assert.deepEqual(subscribed('LDS'), [], 'wildcard');
    assert.deepEqual(subscribed('EDS'), [CLUSTER]);
    assert.deepEqual(subscribed('RDS'), [LISTENER]);
    await waitFor('every ACK', () => pilot.sent.every((sent) => pilot.answersTo(sent).length > 0));
    for (const sent of pilot.sent) {
      const [ack] = pilot.answersTo(sent);
      assert.equal(ack.version_info, sent.response.version_info, `${sent.type} ACK carries its version`);
      assert.equal(ack.error_detail, undefined);
    }
    assert.equal(configs.length, 1, 'one config for the initial set');
    assert.deepEqual(config.versions, { listeners: 'l1', routes: 'r1', clusters: 'c1', endpoints: 'e1' });
    assert.ok(config.listeners.has(LISTENER) && config.routes.has(LISTENER));
    assert.deepEqual(
      config.endpoints.get(CLUSTER)?.map((e) => e.address),
      ['10.0.0.1'],
    );
    assert.equal(client.status().connected, true);
  });

  it('NACKs a response it cannot translate (previous version, the reason with its path) and keeps the config', async () => {
    pilot.resources.CDS = [cluster(CLUSTER, { lb_policy: 'MAGLEV' })];
    pilot.versions.CDS = 'c2';
    pilot.push('CDS');
    const bad = pilot.sent.at(-1)!;
    const [nack] = await waitFor('a NACK', () => pilot.answersTo(bad).length > 0 && pilot.answersTo(bad));
    assert.equal(nack.version_info, 'c1', 'the version still in use');
    assert.equal(nack.error_detail?.code, 3);
    assert.match(
      nack.error_detail?.message ?? '',
      /^Cluster "outbound\|9080\|\|reviews\.default\.svc\.cluster\.local" lb_policy: "MAGLEV" is not supported/,
    );
    assert.equal(configs.length, 1, 'nothing published');
    assert.match(client.status().lastError ?? '', /MAGLEV/);
    assert.equal(client.status().nacks, 1);

    pilot.resources.CDS = [cluster(CLUSTER), cluster(OTHER)];
    pilot.versions.CDS = 'c3';
    pilot.versions.EDS = 'e2';
    pilot.push('CDS');
    const config = await waitFor('the next config', () => configs[1]);
    assert.deepEqual([...config.clusters.keys()], [CLUSTER, OTHER]);
    assert.deepEqual(
      config.endpoints.get(OTHER)?.map((e) => e.address),
      ['10.0.0.2'],
      'EDS followed the new cluster',
    );
    assert.equal(client.status().lastError, undefined, 'the NACK is resolved');
  });

  it('reconnects after the stream fails, re-subscribing with the accepted versions, and keeps its config', async () => {
    pilot.failStreams();
    const stream = await waitFor('a new stream', () => pilot.streams[1]);
    await waitFor('the subscriptions', () => stream.requests.length >= 4);
    const byType = (type: XdsType) => stream.requests.find((r) => r.type_url === XDS_TYPE_URLS[type]);
    assert.equal(stream.requests[0].node?.id, NODE.id);
    assert.equal(byType('CDS')?.version_info, 'c3');
    assert.deepEqual(byType('EDS')?.resource_names, [CLUSTER, OTHER].sort());
    assert.equal(byType('EDS')?.version_info, 'e2');
    assert.equal(byType('LDS')?.version_info, 'l1');
    assert.deepEqual(byType('RDS')?.resource_names, [LISTENER]);
    await waitFor('connected again', () => client.status().connected);
    assert.equal(client.status().reconnects, 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(configs.length, 2, 'same versions: no new config');
  });
});

describe('XdsClient without every resource', () => {
  it('publishes what arrived when a referenced route never comes, after the completion timeout', async () => {
    const pilot = new FakePilot();
    pilot.withheld.add('RDS');
    const address = await pilot.start();
    const configs: MeshConfig[] = [];
    const client = new XdsClient({
      address,
      node: NODE,
      logger,
      onConfig: (c) => configs.push(c),
      completionTimeoutMs: 150,
    });
    const started = Date.now();
    client.start();
    try {
      const config = await waitFor('a config', () => configs[0]);
      assert.ok(Date.now() - started >= 140, 'waited for the routes first');
      assert.ok(config.listeners.has(LISTENER));
      assert.equal(config.routes.size, 0);
      assert.equal(config.clusters.size, 1);
    } finally {
      client.stop();
      pilot.stop();
    }
  });

  it('keeps its last config and reports the failure while Pilot is away', async () => {
    const pilot = new FakePilot();
    const address = await pilot.start();
    const configs: MeshConfig[] = [];
    const client = new XdsClient({
      address,
      node: NODE,
      logger,
      onConfig: (c) => configs.push(c),
      backoff: { initialMs: 20, maxMs: 40 },
    });
    client.start();
    try {
      await waitFor('a config', () => configs[0]);
      pilot.stop();
      await waitFor('disconnected', () => !client.status().connected);
      assert.ok(client.status().lastError, 'says why');
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(configs.length, 1);
      assert.ok(client.status().reconnects >= 1, 'keeps trying');
    } finally {
      client.stop();
    }
  });
});
