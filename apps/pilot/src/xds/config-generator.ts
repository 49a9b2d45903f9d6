import { createHash } from 'node:crypto';
import type { RegistrySnapshot } from '../registry/build-registry';
import { allClusterNames, cluster, loadAssignment, parseClusterName } from './clusters';
import type { EnvoyCodec } from './envoy-codec';
import { VIRTUAL_INBOUND, virtualInboundListener } from './inbound-listener';
import { allListenerNames, apiListener, parseListenerName } from './listeners';
import { DEFAULT_MESH_OPTIONS, type MeshOptions } from './mesh';
import type { ProxyNode } from './node';
import { effectivePeerAuthentication } from './peer-authentication';
import { routeConfiguration } from './routes';
import { sidecarCluster } from './sidecar-clusters';
import { type AnyMessage, type Pack, TYPE_URLS, type XdsType } from './types';

/** One generated resource, encoded, with a digest of its encoding. */
export interface GeneratedResource {
  readonly name: string;
  readonly resource: AnyMessage;
  readonly digest: string;
}

type Encoded = Pick<GeneratedResource, 'resource' | 'digest'>;

/**
 * Computes the resources of one xDS type a proxy asked for (`names`, or every one for a wildcard
 * subscription) from a registry snapshot. A requested name that does not exist is left out (in
 * state-of-the-world xDS that means "does not exist").
 *
 * A Bowline sidecar (node.sidecar) gets Envoy's sidecar config on top of what a proxyless gRPC
 * client gets (whose output stays exactly what grpc-js-xds accepts): route timeouts, retries,
 * rewrites and faults; DestinationRule traffic policies and auto mTLS on clusters; `tlsMode`
 * endpoint metadata; and the `virtualInbound` listener with its PeerAuthentication modes.
 *
 * Caches keep a push cheap. Per type, a generation holds everything built from one snapshot:
 * each resource by (sidecar or not, namespace, name — and the workload labels for
 * virtualInbound), and whole answers, so proxies of one kind and namespace asking the same names
 * get the very same array. A generation records which snapshot fields its builders read; when a
 * new snapshot has the very same objects in those fields (ServiceRegistry keeps unchanged fields),
 * the generation holds for it too and nothing of that type is rebuilt: a VirtualService change
 * rebuilds routes only. Across generations, an encoding is reused when the message is unchanged
 * (keyed by its JSON), so a change re-encodes only what it changed.
 */
export class ConfigGenerator {
  private readonly generations = new Map<XdsType, Generation>();
  private readonly pack: Pack;

  constructor(
    private readonly codec: EnvoyCodec,
    private readonly mesh: MeshOptions = DEFAULT_MESH_OPTIONS,
  ) {
    this.pack = (typeUrl, message) => this.codec.pack(typeUrl, message);
  }

  generate(
    type: XdsType,
    snapshot: RegistrySnapshot,
    node: ProxyNode,
    names: readonly string[] | null,
  ): GeneratedResource[] {
    const generation = this.generation(type, snapshot);
    const proxyKey = cacheKey(type, node, VIRTUAL_INBOUND);
    let answers = generation.answers.get(proxyKey);
    if (!answers) generation.answers.set(proxyKey, (answers = new Map()));
    const subscribed = namesKey(names);
    const shared = answers.get(subscribed);
    if (shared) return shared;
    const wanted = names ?? wildcardNames(type, generation.view, node);
    const out: GeneratedResource[] = [];
    for (const name of [...new Set(wanted)].sort()) {
      const key = cacheKey(type, node, name);
      let resource = generation.resources.get(key);
      if (resource === undefined) {
        resource = this.build(type, generation, node, name);
        generation.resources.set(key, resource);
      }
      if (resource) out.push({ name, ...resource });
    }
    answers.set(subscribed, out);
    return out;
  }

  /** The generation of `type` that holds for `snapshot`: the current one, or a new one when what it read changed. */
  private generation(type: XdsType, snapshot: RegistrySnapshot): Generation {
    const current = this.generations.get(type);
    if (current?.snapshot === snapshot) return current;
    if (current && [...current.read].every((field) => current.snapshot[field] === snapshot[field])) {
      current.snapshot = snapshot;
      current.view = recordReads(snapshot, current.read);
      return current;
    }
    const read = new Set<keyof RegistrySnapshot>();
    const next: Generation = {
      snapshot,
      view: recordReads(snapshot, read),
      read,
      resources: new Map(),
      answers: new Map(),
      encodings: new Map(),
      previousEncodings: current?.encodings ?? new Map(),
    };
    this.generations.set(type, next);
    return next;
  }

  private build(type: XdsType, generation: Generation, node: ProxyNode, name: string): Encoded | null {
    const snapshot = generation.view;
    const encode = (typeUrl: string, message: () => Record<string, unknown>, key?: string) =>
      this.encode(generation, typeUrl, message, key);
    const pack = (typeUrl: string, message: Record<string, unknown>) => encode(typeUrl, () => message);
    const sidecar = node.sidecar === true;
    switch (type) {
      case 'LDS':
        if (sidecar && name === VIRTUAL_INBOUND) return pack(TYPE_URLS.LDS, this.inboundListener(snapshot, node));
        // An API listener depends on its name (and the kind of proxy) only: keyed by it, never re-encoded.
        return parseListenerName(name, snapshot, node.namespace)
          ? encode(TYPE_URLS.LDS, () => apiListener(name, this.pack, sidecar), `${flavor(node)}|${name}`)
          : null;
      case 'RDS': {
        const ref = parseListenerName(name, snapshot, node.namespace);
        const options = sidecar ? { pack: this.pack } : undefined;
        return ref ? pack(TYPE_URLS.RDS, routeConfiguration(name, ref.service, ref.port, snapshot, options)) : null;
      }
      case 'CDS': {
        const ref = parseClusterName(name, snapshot);
        if (!ref) return null;
        return sidecar
          ? pack(TYPE_URLS.CDS, sidecarCluster(name, ref, snapshot, this.mesh, this.pack))
          : encode(TYPE_URLS.CDS, () => cluster(name), name); // depends on its name only
      }
      case 'EDS':
        // An assignment is sent even for an unknown cluster (empty), so a client stops waiting.
        return pack(TYPE_URLS.EDS, loadAssignment(name, parseClusterName(name, snapshot), sidecar));
    }
  }

  /** The node's virtualInbound listener, from the PeerAuthentications that apply to its workload. */
  private inboundListener(snapshot: RegistrySnapshot, node: ProxyNode): Record<string, unknown> {
    const policy = effectivePeerAuthentication(snapshot.peerAuthentications, this.mesh.rootNamespace, node);
    return virtualInboundListener(policy, this.pack);
  }

  /**
   * The encoding of `message()`, reused when the same key (by default the message's JSON) was seen
   * in this generation or the one before.
   */
  private encode(
    generation: Generation,
    typeUrl: string,
    message: () => Record<string, unknown>,
    name?: string,
  ): Encoded {
    let built: Record<string, unknown> | undefined;
    const key = `${typeUrl}\0${name ?? JSON.stringify((built = message()))}`;
    let encoded = generation.encodings.get(key) ?? generation.previousEncodings.get(key);
    if (!encoded) {
      const resource = this.codec.pack(typeUrl, built ?? message());
      encoded = { resource, digest: createHash('sha256').update(resource.value).digest('base64') };
    }
    generation.encodings.set(key, encoded);
    return encoded;
  }
}

/** Everything one type's config was built from one snapshot, and what was built. */
interface Generation {
  /** The latest snapshot the generation holds for. */
  snapshot: RegistrySnapshot;
  /** The snapshot as builders see it: reading a field records it in `read`. */
  view: RegistrySnapshot;
  /** The snapshot fields the builders read: while these stay the same objects, so does the config. */
  read: Set<keyof RegistrySnapshot>;
  /** Each resource by cacheKey (null: it does not exist). */
  resources: Map<string, Encoded | null>;
  /** Whole answers, by the cacheKey of the proxy's virtualInbound (kind, namespace, labels), then by namesKey. */
  answers: Map<string, Map<string, GeneratedResource[]>>;
  encodings: Map<string, Encoded>;
  previousEncodings: Map<string, Encoded>;
}

/** `snapshot`, recording in `read` each field a builder reads. */
function recordReads(snapshot: RegistrySnapshot, read: Set<keyof RegistrySnapshot>): RegistrySnapshot {
  return new Proxy(snapshot, {
    get(target, field, receiver) {
      read.add(field as keyof RegistrySnapshot);
      return Reflect.get(target, field, receiver) as unknown;
    },
  });
}

/** `sidecar` for a Bowline sidecar, `grpc` for a proxyless gRPC client: they get different config. */
function flavor(node: ProxyNode): string {
  return node.sidecar ? 'sidecar' : 'grpc';
}

/** Every name of a type, for a wildcard subscription (a sidecar's LDS adds its virtualInbound listener). */
function wildcardNames(type: XdsType, snapshot: RegistrySnapshot, node: ProxyNode): string[] {
  if (type === 'CDS' || type === 'EDS') return allClusterNames(snapshot);
  const listeners = allListenerNames(snapshot);
  return type === 'LDS' && node.sidecar ? [...listeners, VIRTUAL_INBOUND] : listeners;
}

/**
 * What a resource depends on besides the snapshot: its type and name, the kind of proxy, the
 * namespace names resolve from, and for virtualInbound the workload's labels (PeerAuthentication
 * selectors).
 */
function cacheKey(type: XdsType, node: ProxyNode, name: string): string {
  const key = `${type}|${flavor(node)}|${node.namespace}|${name}`;
  if (type !== 'LDS' || name !== VIRTUAL_INBOUND || !node.sidecar) return key;
  return `${key}|${labelsKey(node)}`;
}

/** A node's labels as a string, computed once per node (a stream's node never changes). */
const labelsKeys = new WeakMap<ProxyNode, string>();

function labelsKey(node: ProxyNode): string {
  let key = labelsKeys.get(node);
  if (key === undefined) {
    const labels = Object.entries(node.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    key = JSON.stringify(labels);
    labelsKeys.set(node, key);
  }
  return key;
}

/**
 * A subscription's names as one string, computed once per array: a subscription keeps its
 * array until its names change, so a push looks its answer up without joining hundreds of names.
 */
const namesKeys = new WeakMap<readonly string[], string>();

function namesKey(names: readonly string[] | null): string {
  if (!names) return '*';
  let key = namesKeys.get(names);
  if (key === undefined) {
    key = `[${names.map((name) => JSON.stringify(name)).join(',')}]`;
    namesKeys.set(names, key);
  }
  return key;
}
