import { createHash } from 'node:crypto';
import type { RegistrySnapshot } from '../registry/build-registry';
import { allClusterNames, cluster, loadAssignment, parseClusterName } from './clusters';
import type { EnvoyCodec } from './envoy-codec';
import { allListenerNames, apiListener, parseListenerName } from './listeners';
import type { ProxyNode } from './node';
import { routeConfiguration } from './routes';
import { type AnyMessage, TYPE_URLS, type XdsType } from './types';

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
 * Two caches keep a push cheap: per snapshot, each (type, namespace, name) is built once for all
 * proxies; across snapshots, an encoding is reused when the message is unchanged (keyed by its
 * JSON), so a change re-encodes only what it changed. Both keep the last two generations.
 */
export class ConfigGenerator {
  private cachedFor?: RegistrySnapshot;
  private cache = new Map<string, Encoded | null>();
  private encodings = new Map<string, Encoded>();
  private previousEncodings = new Map<string, Encoded>();

  constructor(private readonly codec: EnvoyCodec) {}

  generate(
    type: XdsType,
    snapshot: RegistrySnapshot,
    node: ProxyNode,
    names: readonly string[] | null,
  ): GeneratedResource[] {
    if (this.cachedFor !== snapshot) {
      this.cachedFor = snapshot;
      this.cache = new Map();
      this.previousEncodings = this.encodings;
      this.encodings = new Map();
    }
    const wanted = names ?? (type === 'LDS' || type === 'RDS' ? allListenerNames(snapshot) : allClusterNames(snapshot));
    const out: GeneratedResource[] = [];
    for (const name of [...new Set(wanted)].sort()) {
      const key = `${type}|${node.namespace}|${name}`;
      let resource = this.cache.get(key);
      if (resource === undefined) {
        resource = this.build(type, snapshot, node, name);
        this.cache.set(key, resource);
      }
      if (resource) out.push({ name, ...resource });
    }
    return out;
  }

  private build(type: XdsType, snapshot: RegistrySnapshot, node: ProxyNode, name: string): Encoded | null {
    const pack = (typeUrl: string, message: Record<string, unknown>) => this.encode(typeUrl, () => message);
    switch (type) {
      case 'LDS':
        // A listener and a cluster depend on their name only: keyed by it, never re-encoded.
        return parseListenerName(name, snapshot, node.namespace)
          ? this.encode(TYPE_URLS.LDS, () => apiListener(name, (typeUrl, m) => this.codec.pack(typeUrl, m)), name)
          : null;
      case 'RDS': {
        const ref = parseListenerName(name, snapshot, node.namespace);
        return ref ? pack(TYPE_URLS.RDS, routeConfiguration(name, ref.service, ref.port, snapshot)) : null;
      }
      case 'CDS':
        return parseClusterName(name, snapshot) ? this.encode(TYPE_URLS.CDS, () => cluster(name), name) : null;
      case 'EDS':
        // An assignment is sent even for an unknown cluster (empty), so a client stops waiting.
        return pack(TYPE_URLS.EDS, loadAssignment(name, parseClusterName(name, snapshot)));
    }
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
