import { createHash, randomBytes } from 'node:crypto';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { GeneratedResource } from './config-generator';
import type { ProxyNode } from './node';
import type { ResponseEncoder } from './response-encoder';
import type { DiscoveryRequest, XdsType } from './types';

/**
 * RDS and EDS responses update only the resources they carry: leaving one out does not remove it
 * (Envoy's xDS protocol, "Grouping resources into responses"; grpc-js-xds and the Bowline proxy
 * do the same). So once a stream has the state of the world, a push of these types carries only
 * the resources that changed. LDS and CDS responses always carry everything.
 */
export const INCREMENTAL_TYPES: ReadonlySet<XdsType> = new Set<XdsType>(['RDS', 'EDS']);

/** Where one resource type of one stream stands, as proxy-status reports it. */
export type SyncStatus = 'SYNCED' | 'STALE' | 'NACK' | 'NOT_SENT';

/** One subscribed type on one stream. */
export interface Subscription {
  /** Requested names; null for a wildcard subscription (everything). */
  names: readonly string[] | null;
  sentVersion?: string;
  sentNonce?: string;
  sentHash?: string;
  sentCount?: number;
  /** The whole state the latest response brought the proxy to (it may have carried only changes). */
  sentResources?: readonly GeneratedResource[];
  lastPushAt?: Date;
  /** The version the proxy last accepted (ACK): what it runs after a NACK. */
  ackedVersion?: string;
  ackedNonce?: string;
  lastAckAt?: Date;
  /** The proxy's error for the latest response, when it rejected it. */
  nack?: { nonce: string; version: string; message: string; at: Date };
  /** When the change that caused the latest push was first seen (for convergence time). */
  changeSeenAt?: number;
}

/**
 * The ADS call. Pilot writes each DiscoveryResponse already encoded (ResponseEncoder), which the
 * gRPC server sends as it is (sendPreEncodedResponses in #libs/grpc).
 */
export type AdsCall = ServerDuplexStream<DiscoveryRequest, Buffer>;

/** One ADS stream: its proxy, and per type what was asked, sent, accepted or rejected. */
export class XdsConnection {
  readonly id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  readonly subscriptions = new Map<XdsType, Subscription>();
  node?: ProxyNode;

  constructor(
    readonly call: AdsCall,
    readonly connectedAt: Date,
    private readonly responses: ResponseEncoder,
  ) {}

  status(type: XdsType): SyncStatus {
    const subscription = this.subscriptions.get(type);
    if (!subscription?.sentNonce) return 'NOT_SENT';
    if (subscription.nack?.nonce === subscription.sentNonce) return 'NACK';
    return subscription.ackedNonce === subscription.sentNonce ? 'SYNCED' : 'STALE';
  }

  /**
   * Sends `resources` as the state of the world of `type` unless it is what was sent last
   * (`force` sends anyway, e.g. when the subscription changed). The version is a digest of the
   * content, so identical config has the same version across pushes and Pilot restarts. For RDS
   * and EDS the response carries only what changed since the latest response, unless that one was
   * rejected (NACK), or `force`: then everything.
   */
  send(
    type: XdsType,
    resources: readonly GeneratedResource[],
    now: Date,
    force: boolean,
    changeSeenAt?: number,
  ): boolean {
    const subscription = this.subscriptions.get(type);
    if (!subscription) return false;
    const hash = digest(resources);
    if (!force && hash === subscription.sentHash) return false;
    const version = hash.slice(0, 16);
    const previous = subscription.sentResources;
    const onlyChanges = !force && previous && INCREMENTAL_TYPES.has(type) && this.status(type) !== 'NACK';
    const carried = onlyChanges ? changedSince(previous, resources) : resources;
    const response = this.responses.encode(type, carried, version, subscription.sentNonce);
    this.call.write(response.bytes);
    Object.assign(subscription, {
      sentVersion: version,
      sentNonce: response.nonce,
      sentHash: hash,
      sentCount: resources.length,
      sentResources: resources,
      lastPushAt: now,
      changeSeenAt: subscription.changeSeenAt ?? changeSeenAt,
    });
    return true;
  }
}

/** Changes between two shared answers, computed once per pair (so streams share them, and their encoding). */
const changes = new WeakMap<readonly GeneratedResource[], WeakMap<readonly GeneratedResource[], GeneratedResource[]>>();

/**
 * The resources of `current` that are new or different in `previous`. A change that only
 * removes resources carries everything instead (an empty response would say nothing).
 */
function changedSince(
  previous: readonly GeneratedResource[],
  current: readonly GeneratedResource[],
): readonly GeneratedResource[] {
  let byCurrent = changes.get(previous);
  if (!byCurrent) changes.set(previous, (byCurrent = new WeakMap()));
  let changed = byCurrent.get(current);
  if (!changed) {
    const before = new Map(previous.map((r) => [r.name, r.digest]));
    changed = current.filter((r) => before.get(r.name) !== r.digest);
    byCurrent.set(current, changed);
  }
  return changed.length > 0 ? changed : current;
}

/** Digests of answers the generator shares between proxies, computed once per answer. */
const digests = new WeakMap<readonly GeneratedResource[], string>();

function digest(resources: readonly GeneratedResource[]): string {
  let value = digests.get(resources);
  if (value === undefined) {
    const hash = createHash('sha256');
    for (const { name, digest } of resources) hash.update(name).update('\0').update(digest).update('\0');
    value = hash.digest('hex');
    digests.set(resources, value);
  }
  return value;
}
