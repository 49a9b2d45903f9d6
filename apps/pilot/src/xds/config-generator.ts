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
 * Two caches keep a push cheap: per snapshot, each (type, sidecar or not, namespace, name — and
 * the workload labels for virtualInbound) is built once for all proxies; across snapshots, an
 * encoding is reused when the message is unchanged (keyed by its JSON), so a change re-encodes
 * only what it changed. Both keep the last two generations.
 */
export class ConfigGenerator {
  private cachedFor?: RegistrySnapshot;
  private cache = new Map<string, Encoded | null>();
  /** Whole answers per snapshot: proxies of one kind and namespace asking the same names share one. */
  private lists = new Map<string, GeneratedResource[]>();
  private encodings = new Map<string, Encoded>();
  private previousEncodings = new Map<string, Encoded>();

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
    if (this.cachedFor !== snapshot) {
      this.cachedFor = snapshot;
      this.cache = new Map();
      this.lists = new Map();
      this.previousEncodings = this.encodings;
      this.encodings = new Map();
    }
    const listKey = `${cacheKey(type, node, VIRTUAL_INBOUND)}|${names ? names.join(',') : '*'}`;
    const shared = this.lists.get(listKey);
    if (shared) return shared;
    const wanted = names ?? wildcardNames(type, snapshot, node);
    const out: GeneratedResource[] = [];
    for (const name of [...new Set(wanted)].sort()) {
      const key = cacheKey(type, node, name);
      let resource = this.cache.get(key);
      if (resource === undefined) {
        resource = this.build(type, snapshot, node, name);
        this.cache.set(key, resource);
      }
      if (resource) out.push({ name, ...resource });
    }
    this.lists.set(listKey, out);
    return out;
  }

  private build(type: XdsType, snapshot: RegistrySnapshot, node: ProxyNode, name: string): Encoded | null {
    const pack = (typeUrl: string, message: Record<string, unknown>) => this.encode(typeUrl, () => message);
    const sidecar = node.sidecar === true;
    switch (type) {
      case 'LDS':
        if (sidecar && name === VIRTUAL_INBOUND) return pack(TYPE_URLS.LDS, this.inboundListener(snapshot, node));
        // An API listener depends on its name (and the kind of proxy) only: keyed by it, never re-encoded.
        return parseListenerName(name, snapshot, node.namespace)
          ? this.encode(TYPE_URLS.LDS, () => apiListener(name, this.pack, sidecar), `${flavor(node)}|${name}`)
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
          : this.encode(TYPE_URLS.CDS, () => cluster(name), name); // depends on its name only
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

  /** The encoding of `message()`, reused when the same key (by default the message's JSON) was seen. */
  private encode(typeUrl: string, message: () => Record<string, unknown>, name?: string): Encoded {
    let built: Record<string, unknown> | undefined;
    const key = `${typeUrl}\0${name ?? JSON.stringify((built = message()))}`;
    let encoded = this.encodings.get(key) ?? this.previousEncodings.get(key);
    if (!encoded) {
      const resource = this.codec.pack(typeUrl, built ?? message());
      encoded = { resource, digest: createHash('sha256').update(resource.value).digest('base64') };
    }
    this.encodings.set(key, encoded);
    return encoded;
  }
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
  const labels = Object.entries(node.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${key}|${JSON.stringify(labels)}`;
}
