import { status as GrpcStatus } from '@grpc/grpc-js';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import type { PilotConfig } from '../config';
import { PilotError } from '../errors';
import { PilotMetrics } from '../metrics/pilot-metrics';
import { ServiceRegistry } from '../registry/service-registry';
import { WorkloadRegistrations } from '../registry/workload-registrations';
import { ConfigGenerator } from './config-generator';
import { type AdsCall, INCREMENTAL_TYPES, XdsConnection } from './connection';
import { EnvoyCodec } from './envoy-codec';
import { meshOptions } from './mesh';
import { NameLists } from './name-lists';
import { parseNode } from './node';
import { ResponseEncoder } from './response-encoder';
import { type DiscoveryRequest, PUSH_ORDER, typeLabel, xdsTypeOf, type XdsType } from './types';

/** A debounced push waits at most this many debounce periods while changes keep coming. */
const MAX_DEBOUNCE_FACTOR = 10;

/**
 * The ADS server (state of the world). Each stream's first request names its node (which may
 * register a workload); each request subscribes to names of one type, ACKs (nonce of the latest
 * response, no error) or NACKs (with error_detail: recorded, and the proxy keeps its last good
 * config, so nothing is re-sent until the config changes). Registry changes are debounced
 * (PILOT_DEBOUNCE) and pushed only to streams whose generated resources changed; RDS and EDS
 * pushes carry only the resources that changed (XdsConnection.send). Streams that get the same
 * answer get the same encoded response (ResponseEncoder), encoded once per push.
 */
@Injectable()
export class DiscoveryServer implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('DiscoveryServer');
  private readonly connections = new Map<string, XdsConnection>();
  private readonly generator: ConfigGenerator;
  private readonly responses: ResponseEncoder;
  private readonly nameLists = new NameLists();
  private timer?: NodeJS.Timeout;
  private firstChangeAt?: number;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: PilotConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ServiceRegistry) private readonly registry: ServiceRegistry,
    @Inject(WorkloadRegistrations) private readonly workloads: WorkloadRegistrations,
    @Inject(PilotMetrics) private readonly metrics: PilotMetrics,
  ) {
    const codec = new EnvoyCodec();
    this.generator = new ConfigGenerator(codec, meshOptions(config));
    this.responses = new ResponseEncoder(codec);
  }

  onModuleInit(): void {
    this.registry.onChange(() => this.schedulePush());
  }

  /** Ends every stream so the gRPC server can shut down gracefully (proxies reconnect elsewhere). */
  onModuleDestroy(): void {
    clearTimeout(this.timer);
    for (const connection of this.connections.values()) connection.call.end();
  }

  /** The open streams, oldest first. */
  list(): XdsConnection[] {
    return [...this.connections.values()].sort((a, b) => a.connectedAt.getTime() - b.connectedAt.getTime());
  }

  /** Serves one StreamAggregatedResources call until either side ends it. */
  open(call: AdsCall): void {
    const connection = new XdsConnection(call, this.clock.now(), this.responses);
    this.connections.set(connection.id, connection);
    this.metrics.proxyConnected(1);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      this.connections.delete(connection.id);
      this.metrics.proxyConnected(-1);
      if (connection.node?.registration) this.workloads.disconnect(connection.id, connection.node.id);
      this.logger.log({ msg: 'xDS stream closed', node: connection.node?.id, connection: connection.id });
    };
    call.on('data', (request: DiscoveryRequest) => {
      try {
        this.onRequest(connection, request);
      } catch (error) {
        const known = error instanceof PilotError;
        this.logger.warn({ msg: 'xDS request refused', node: connection.node?.id, reason: String(error) });
        call.emit('error', {
          code: known ? error.kind.grpcStatus : GrpcStatus.INTERNAL,
          details: known ? error.message : 'internal error',
        });
        close();
      }
    });
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('error', close);
    call.on('cancelled', close);
    call.on('close', close);
  }

  private onRequest(connection: XdsConnection, request: DiscoveryRequest): void {
    const now = this.clock.now();
    if (!connection.node) {
      connection.node = parseNode(request.node);
      this.logger.log({ msg: 'xDS stream opened', node: connection.node.id, connection: connection.id });
      if (connection.node.registration) this.workloads.connect(connection.id, connection.node.registration);
    }
    if (!request.type_url) throw new PilotError('XDS_REQUEST_INVALID', 'a discovery request must name its type_url');
    const type = xdsTypeOf(request.type_url);
    if (!type) {
      this.logger.debug({ msg: 'unsupported xDS type ignored', typeUrl: request.type_url, node: connection.node.id });
      return;
    }
    const names = requestedNames(type, request, connection.subscriptions.get(type)?.names, this.nameLists);
    const subscription = connection.subscriptions.get(type);
    if (!subscription || !request.response_nonce) {
      // A new subscription (or a reconnecting proxy telling what it has): answer with the current state.
      connection.subscriptions.set(type, { ...subscription, names });
      this.push(connection, type, true, now.getTime());
      return;
    }
    const error = request.error_detail;
    const rejected = Boolean(error && (error.code !== 0 || error.message));
    if (request.response_nonce !== subscription.sentNonce) {
      // Answers an older response: superseded. But if that one (RDS/EDS: only changes) was
      // rejected, the proxy lacks what it carried, and later responses assumed it: resend all.
      if (rejected && INCREMENTAL_TYPES.has(type)) this.push(connection, type, true, now.getTime());
      return;
    }
    if (error && rejected) {
      subscription.nack = {
        nonce: request.response_nonce,
        version: subscription.sentVersion ?? '',
        message: error.message,
        at: now,
      };
      this.metrics.rejected(typeLabel(type));
      this.logger.warn({
        msg: 'proxy rejected config (NACK); it keeps its last accepted version',
        node: connection.node.id,
        type,
        version: subscription.sentVersion,
        accepted: subscription.ackedVersion,
        error: error.message,
      });
    } else {
      subscription.ackedVersion = request.version_info;
      subscription.ackedNonce = request.response_nonce;
      subscription.lastAckAt = now;
      if (subscription.changeSeenAt !== undefined) {
        this.metrics.converged(typeLabel(type), Math.max(0, now.getTime() - subscription.changeSeenAt) / 1000);
        subscription.changeSeenAt = undefined;
      }
    }
    if (!sameNames(names, subscription.names)) {
      subscription.names = names;
      this.push(connection, type, true, now.getTime());
    }
  }

  private schedulePush(): void {
    const now = Date.now();
    this.firstChangeAt ??= now;
    clearTimeout(this.timer);
    const waited = now - this.firstChangeAt;
    const delay = waited >= this.config.debounce * MAX_DEBOUNCE_FACTOR ? 0 : this.config.debounce;
    this.timer = setTimeout(() => this.pushAll(), delay);
  }

  private pushAll(): void {
    const changeSeenAt = this.firstChangeAt ?? Date.now();
    this.firstChangeAt = undefined;
    for (const connection of this.connections.values()) {
      for (const type of PUSH_ORDER) {
        if (connection.subscriptions.has(type)) this.push(connection, type, false, changeSeenAt);
      }
    }
  }

  private push(connection: XdsConnection, type: XdsType, force: boolean, changeSeenAt: number): void {
    const subscription = connection.subscriptions.get(type);
    if (!subscription || !connection.node) return;
    const resources = this.generator.generate(type, this.registry.snapshot, connection.node, subscription.names);
    if (connection.send(type, resources, this.clock.now(), force, changeSeenAt)) {
      this.metrics.pushed(typeLabel(type));
    }
  }
}

/**
 * The names a request subscribes to; null means wildcard. An LDS or CDS subscription that starts
 * with no names (or names `*`) is a wildcard, and stays one while the proxy sends no names.
 */
function requestedNames(
  type: XdsType,
  request: DiscoveryRequest,
  previous: readonly string[] | null | undefined,
  lists: NameLists,
): readonly string[] | null {
  const requested = request.resource_names ?? [];
  // The usual ACK repeats the names it got, in the same order: keep them without copying and sorting.
  if (previous && sameNames(requested, previous)) return previous;
  const names = [...requested];
  if (names.includes('*')) return null;
  if (names.length === 0 && (type === 'LDS' || type === 'CDS') && (previous === undefined || previous === null)) {
    return null;
  }
  return lists.intern(names.sort());
}

function sameNames(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  return a.length === b.length && a.every((name, i) => name === b[i]);
}
