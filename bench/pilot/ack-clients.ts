/**
 * A worker process of bench/pilot/ack-latency.ts (forked by it; not a bench on its own): it
 * runs many simulated xDS proxies against one Pilot and reports, per round, when each of them
 * received the new version of the watched resource type.
 *
 * Each simulated proxy is one ADS stream (`StreamAggregatedResources`, state of the world) with
 * its own node id, subscribing as Envoy does: CDS and LDS as wildcards, then EDS for every
 * cluster CDS returned and RDS for every route name LDS returned. It ACKs every response at once
 * (version and nonce of what it just got, same names). Half of them (by default) announce
 * themselves as Bowline sidecars (`BOWLINE_PROXY: sidecar`), the others as proxyless gRPC
 * clients. No node registers a workload (no labels, no BOWLINE_SERVICE), so connecting does not
 * change the registry.
 *
 * To keep the load generator cheap on a 2-core machine, responses are not decoded: a hand
 * written deserializer reads only version_info, type_url and nonce from the DiscoveryResponse
 * envelope, and resource names (field 1 of every Listener and Cluster) are read once per
 * distinct version. Requests are encoded with proto-loader's serializer of the real proto; an ACK
 * that several of a worker's proxies send alike (same response, same names) is encoded once.
 *
 * Times are `process.hrtime` (CLOCK_MONOTONIC), the same clock in every process on the machine,
 * so the parent compares them with the moment it sent the apply.
 */
import { Client, type ClientDuplexStream, credentials, type ServiceError } from '@grpc/grpc-js';
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { ENVOY_ADS_PACKAGE, toStruct } from '#libs/proto';
import { VIRTUAL_INBOUND } from '../../apps/pilot/src/xds/inbound-listener';
import { TYPE_URLS, type XdsType } from '../../apps/pilot/src/xds/types';

/** One simulated proxy: its index in the whole run, and whether it is a sidecar or proxyless. */
export interface ClientSpec {
  index: number;
  sidecar: boolean;
}

export type ToWorker =
  | {
      op: 'connect';
      address: string;
      clients: ClientSpec[];
      /** One HTTP/2 connection for all of this worker's streams instead of one per proxy. */
      shareConnection: boolean;
      /** At most this many proxies connecting (not yet synced) at once. */
      window: number;
    }
  | { op: 'arm'; round: number; type: XdsType; sidecarsOnly: boolean }
  | { op: 'pending'; round: number }
  | { op: 'close' };

export type FromWorker =
  | { ev: 'synced'; clients: number }
  | { ev: 'armed'; round: number; clients: number }
  | { ev: 'done'; round: number; receivedAt: number[] }
  | { ev: 'pending'; round: number; missing: number }
  | { ev: 'failed'; message: string }
  | { ev: 'closed' };

interface Envelope {
  version: string;
  typeUrl: string;
  nonce: string;
  raw: Buffer;
}

const TYPE_OF = new Map<string, XdsType>(Object.entries(TYPE_URLS).map(([type, url]) => [url, type as XdsType]));
const ADS = loadSync(ENVOY_ADS_PACKAGE.protoPath, {
  ...PROTO_LOADER_OPTIONS,
  includeDirs: ENVOY_ADS_PACKAGE.includeDirs,
})['envoy.service.discovery.v3.AggregatedDiscoveryService'] as Record<string, MethodDefinition<object, object>>;
const METHOD = ADS.StreamAggregatedResources;

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function varint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = buf[at++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, at];
    scale *= 128;
  }
}

/** Calls `each(field, start, end)` for every length-delimited field of a protobuf message. */
function lengthDelimited(buf: Buffer, start: number, end: number, each: (field: number, s: number, e: number) => void) {
  let at = start;
  while (at < end) {
    let tag: number;
    [tag, at] = varint(buf, at);
    const wire = tag & 7;
    if (wire === 2) {
      let length: number;
      [length, at] = varint(buf, at);
      each(tag >>> 3, at, at + length);
      at += length;
    } else if (wire === 0) at = varint(buf, at)[1];
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error(`unexpected wire type ${wire}`);
  }
}

/** DiscoveryResponse: version_info = 1, resources = 2, type_url = 4, nonce = 5. Resources stay encoded. */
function readEnvelope(raw: Buffer): Envelope {
  const envelope: Envelope = { version: '', typeUrl: '', nonce: '', raw };
  lengthDelimited(raw, 0, raw.length, (field, s, e) => {
    if (field === 1) envelope.version = raw.toString('utf8', s, e);
    else if (field === 4) envelope.typeUrl = raw.toString('utf8', s, e);
    else if (field === 5) envelope.nonce = raw.toString('utf8', s, e);
  });
  return envelope;
}

/** The `name` (field 1) of every resource: Any.value (field 2) of each DiscoveryResponse.resources. */
function resourceNames(raw: Buffer): string[] {
  const names: string[] = [];
  lengthDelimited(raw, 0, raw.length, (field, s, e) => {
    if (field !== 2) return;
    lengthDelimited(raw, s, e, (anyField, vs, ve) => {
      if (anyField !== 2) return;
      let name = '';
      lengthDelimited(raw, vs, ve, (f, ns, ne) => {
        if (f === 1 && !name) name = raw.toString('utf8', ns, ne);
      });
      names.push(name);
    });
  });
  return names;
}

/**
 * Encoded ACKs, by names list (the lists are shared: see dependentNames), then by type, version
 * and nonce. Pilot sends one response, nonce included, to every proxy that gets the same config,
 * so this worker's proxies send the same ACK bytes: they are encoded once, not once per proxy.
 * Real proxies run on other machines; here, their encoding would take CPU from Pilot.
 */
const encodedAcks = new WeakMap<readonly string[], Map<string, Buffer>>();
const NO_NAMES: string[] = [];
const MAX_ACKS_PER_LIST = 64;

function encodedAck(type: XdsType, version: string, nonce: string, names: readonly string[]): Buffer {
  let byResponse = encodedAcks.get(names);
  if (!byResponse) encodedAcks.set(names, (byResponse = new Map()));
  const key = `${type}\0${version}\0${nonce}`;
  let bytes = byResponse.get(key);
  if (!bytes) {
    if (byResponse.size >= MAX_ACKS_PER_LIST) byResponse.clear();
    bytes = serializeRequest({
      type_url: TYPE_URLS[type],
      version_info: version,
      response_nonce: nonce,
      resource_names: names,
    });
    byResponse.set(key, bytes);
  }
  return bytes;
}

/** The request serializer of the real proto; an already encoded request (a Buffer) goes as it is. */
function serializeRequest(request: object): Buffer {
  return Buffer.isBuffer(request) ? request : (METHOD.requestSerialize as (value: object) => Buffer)(request);
}

/** EDS names from a CDS response, RDS names from an LDS response; the same version has the same names. */
const dependentNamesCache = new Map<string, string[]>();
function dependentNames(type: 'CDS' | 'LDS', envelope: Envelope): string[] {
  const key = `${type}|${envelope.version}`;
  let names = dependentNamesCache.get(key);
  if (!names) {
    // Every cluster is EDS; every API listener's route config has the listener's name.
    names = resourceNames(envelope.raw)
      .filter((name) => type === 'CDS' || name !== VIRTUAL_INBOUND)
      .sort();
    dependentNamesCache.set(key, names);
  }
  return names;
}

class SimulatedProxy {
  private readonly versions = new Map<XdsType, string>();
  private readonly nonces = new Map<XdsType, string>();
  private readonly names = new Map<XdsType, string[]>();
  private sentNode = false;
  synced = false;
  closing = false;
  armed?: { round: number; type: XdsType; base: string | undefined };

  constructor(
    readonly spec: ClientSpec,
    private readonly call: ClientDuplexStream<object, Envelope>,
    private readonly events: { synced(p: SimulatedProxy): void; received(p: SimulatedProxy, at: number): void },
  ) {
    call.on('data', (envelope: Envelope) => this.onResponse(envelope));
    call.on('error', (error: ServiceError) => {
      if (!this.closing) fail(`proxy ${spec.index}: stream error ${error.code} ${error.details}`);
    });
    call.on('end', () => {
      if (!this.closing) fail(`proxy ${spec.index}: Pilot ended the stream`);
    });
  }

  start(): void {
    this.request('CDS');
    this.request('LDS');
  }

  cancel(): void {
    this.closing = true;
    this.call.cancel();
  }

  private onResponse(envelope: Envelope): void {
    const at = nowMs();
    const type = TYPE_OF.get(envelope.typeUrl);
    if (!type) return;
    this.versions.set(type, envelope.version);
    this.nonces.set(type, envelope.nonce);
    this.request(type); // the ACK, before anything else
    if (type === 'CDS' || type === 'LDS') {
      const dependent = type === 'CDS' ? 'EDS' : 'RDS';
      const wanted = dependentNames(type, envelope);
      const current = this.names.get(dependent);
      if (!current || current.length !== wanted.length || current.some((n, i) => n !== wanted[i])) {
        this.names.set(dependent, wanted);
        this.request(dependent);
      }
    }
    if (this.armed && this.armed.type === type && envelope.version !== this.armed.base) {
      this.armed = undefined;
      this.events.received(this, at);
    }
    if (!this.synced && this.versions.size === 4) {
      this.synced = true;
      this.events.synced(this);
    }
  }

  /** A request for `type` with the latest version and nonce (empty at first): an ACK or a (re)subscription. */
  private request(type: XdsType): void {
    const [version, nonce] = [this.versions.get(type) ?? '', this.nonces.get(type) ?? ''];
    if (this.sentNode && nonce) {
      this.call.write(encodedAck(type, version, nonce, this.names.get(type) ?? NO_NAMES));
      return;
    }
    const node = this.sentNode ? undefined : this.node();
    this.sentNode = true;
    this.call.write({
      node,
      type_url: TYPE_URLS[type],
      version_info: this.versions.get(type) ?? '',
      response_nonce: this.nonces.get(type) ?? '',
      resource_names: this.names.get(type) ?? [],
    });
  }

  private node() {
    const i = this.spec.index;
    const ip = `10.200.${(i >> 8) & 255}.${i & 255}`;
    return {
      id: `sidecar~${ip}~bench-${i}.default~default.svc.cluster.local`,
      user_agent_name: 'bowline-bench',
      metadata: toStruct(
        this.spec.sidecar ? { BOWLINE_PROXY: 'sidecar', NAMESPACE: 'default' } : { NAMESPACE: 'default' },
      ),
    };
  }

  version(type: XdsType): string | undefined {
    return this.versions.get(type);
  }
}

const send = (message: FromWorker) => process.send!(message);
let failed = false;
function fail(message: string): void {
  if (failed) return;
  failed = true;
  send({ ev: 'failed', message });
}

const proxies: SimulatedProxy[] = [];
const channels: Client[] = [];
let round: { id: number; waiting: number; receivedAt: number[] } | undefined;

function connect(message: Extract<ToWorker, { op: 'connect' }>): void {
  const options = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
  const shared = message.shareConnection ? new Client(message.address, credentials.createInsecure(), options) : null;
  if (shared) channels.push(shared);
  const queue = [...message.clients];
  let connecting = 0;
  let synced = 0;
  const next = () => {
    while (connecting < message.window && queue.length > 0) {
      const spec = queue.shift()!;
      // A local subchannel pool gives each proxy its own TCP connection, as separate pods would have.
      const client =
        shared ??
        new Client(message.address, credentials.createInsecure(), {
          ...options,
          'grpc.use_local_subchannel_pool': 1,
        });
      if (!shared) channels.push(client);
      const call = client.makeBidiStreamRequest<object, Envelope>(METHOD.path, serializeRequest, readEnvelope);
      const proxy = new SimulatedProxy(spec, call, {
        synced: () => {
          connecting--;
          if (++synced === message.clients.length) send({ ev: 'synced', clients: synced });
          else next();
        },
        received: (_, at) => {
          if (!round) return;
          round.receivedAt.push(at);
          if (--round.waiting === 0) finish();
        },
      });
      proxies.push(proxy);
      connecting++;
      proxy.start();
    }
  };
  if (message.clients.length === 0) send({ ev: 'synced', clients: 0 });
  else next();
}

function finish(): void {
  if (!round) return;
  send({ ev: 'done', round: round.id, receivedAt: round.receivedAt });
  round = undefined;
}

process.on('message', (message: ToWorker) => {
  switch (message.op) {
    case 'connect':
      connect(message);
      return;
    case 'arm': {
      const chosen = proxies.filter((p) => !message.sidecarsOnly || p.spec.sidecar);
      round = { id: message.round, waiting: chosen.length, receivedAt: [] };
      for (const proxy of chosen)
        proxy.armed = { round: message.round, type: message.type, base: proxy.version(message.type) };
      send({ ev: 'armed', round: message.round, clients: chosen.length });
      if (chosen.length === 0) finish();
      return;
    }
    case 'pending':
      send({ ev: 'pending', round: message.round, missing: round?.id === message.round ? round.waiting : 0 });
      return;
    case 'close':
      for (const proxy of proxies) proxy.cancel();
      for (const channel of channels) channel.close();
      send({ ev: 'closed' });
      setTimeout(() => process.exit(0), 50);
      return;
  }
});

if (!process.send) {
  process.stderr.write('bench/pilot/ack-clients.js is a worker of bench/pilot/ack-latency.js; run that instead\n');
  process.exit(2);
}
