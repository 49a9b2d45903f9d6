import {
  type ChannelCredentials,
  type Client,
  type ClientDuplexStream,
  credentials as grpcCredentials,
  loadPackageDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import type { Logger } from '#libs/logging';
import { ENVOY_ADS_PACKAGE, toStruct } from '#libs/proto';
import { envoyTypes } from './envoy-types';
import type { MeshConfig } from './model';
import { type DiscoveryRequest, type DiscoveryResponse, XdsState, type XdsType } from './xds-state';

/** proto-loader options for xDS: proto field names, enum names, int64 as strings, no defaults. */
export const XDS_LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
} as const;

const USER_AGENT = 'bowline-proxy';

export interface XdsClientOptions {
  /** Pilot's xDS address, `host:port`. */
  readonly address: string;
  /**
   * Who the proxy is (Istio's node id form `sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`) and
   * its metadata (sent as a Struct). Pilot sends sidecar config (retries, faults, mTLS, policies,
   * virtualInbound) only to nodes with metadata `BOWLINE_PROXY: 'sidecar'`; NAMESPACE,
   * SERVICE_ACCOUNT, LABELS, INSTANCE_IPS are read as Istio's.
   */
  readonly node: { readonly id: string; readonly cluster: string; readonly metadata: Record<string, unknown> };
  readonly logger: Logger;
  /** Called with each new complete config (never for a rejected one). */
  readonly onConfig: (config: MeshConfig) => void;
  /** How long to wait for referenced routes / endpoints before publishing what exists (default 2 s). */
  readonly completionTimeoutMs?: number;
  /** Reconnection delays: exponential from `initialMs` (500) to `maxMs` (30 000), with jitter. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Channel credentials (default: plaintext). */
  readonly credentials?: ChannelCredentials;
  readonly random?: () => number;
}

/** The stream's state, for /ready, /config_dump and logs. */
export interface XdsClientStatus {
  readonly address: string;
  /** A stream is open and Pilot has answered on it. */
  readonly connected: boolean;
  /** Why the stream is down, else the latest standing NACK reason. */
  readonly lastError?: string;
  /** Last accepted version per type. */
  readonly versions: Readonly<Record<XdsType, string>>;
  readonly lastConfigAt?: Date;
  readonly nacks: number;
  readonly reconnects: number;
}

interface AdsClient extends Client {
  StreamAggregatedResources(): ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
}
type AdsConstructor = new (address: string, credentials: ChannelCredentials) => AdsClient;

let adsDefinition: PackageDefinition | undefined;

/** Envoy's ADS service definition, loaded once. */
export function adsPackageDefinition(): PackageDefinition {
  adsDefinition ??= loadSync(ENVOY_ADS_PACKAGE.protoPath, {
    ...XDS_LOADER_OPTIONS,
    includeDirs: ENVOY_ADS_PACKAGE.includeDirs,
  });
  return adsDefinition;
}

/**
 * An ADS client to Pilot that behaves like Envoy's: one StreamAggregatedResources stream,
 * wildcard CDS then EDS for the EDS clusters, wildcard LDS then RDS for the routes listeners
 * name; each response is ACKed (its version and nonce) when it translates, NACKed (the previous
 * version, error_detail INVALID_ARGUMENT with the reason) when not, keeping the previous config.
 * A config is published once complete (every referenced route and assignment present) or after
 * `completionTimeoutMs` with what exists. A failed stream is reopened with exponential backoff
 * and jitter, re-subscribing with the last accepted versions; the last config keeps serving
 * meanwhile.
 */
export class XdsClient {
  private readonly state = new XdsState(envoyTypes());
  private client?: AdsClient;
  private stream?: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  private generation = 0;
  private running = false;
  private connected = false;
  private attempt = 0;
  private retryTimer?: NodeJS.Timeout;
  private completionTimer?: NodeJS.Timeout;
  private dirty = false;
  /** Why the stream last failed; cleared by the next response. */
  private streamError?: string;
  /** Standing NACK reasons per type (cleared when the type is accepted again), latest last. */
  private readonly rejections = new Map<XdsType, string>();
  private lastConfigAt?: Date;
  private nacks = 0;
  private reconnects = 0;

  constructor(private readonly options: XdsClientOptions) {}

  /** Opens the stream (and keeps reopening it until `stop`). */
  start(): void {
    if (this.running) return;
    this.running = true;
    const proto = loadPackageDefinition(adsPackageDefinition()) as unknown as {
      envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: AdsConstructor } } } };
    };
    const Ads = proto.envoy.service.discovery.v3.AggregatedDiscoveryService;
    this.client = new Ads(this.options.address, this.options.credentials ?? grpcCredentials.createInsecure());
    this.connect();
  }

  /** Closes the stream and the channel; no more configs are published. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    clearTimeout(this.retryTimer);
    clearTimeout(this.completionTimer);
    this.stream?.cancel();
    this.client?.close();
    this.connected = false;
  }

  status(): XdsClientStatus {
    return {
      address: this.options.address,
      connected: this.connected,
      ...(this.lastError() !== undefined ? { lastError: this.lastError() } : {}),
      versions: this.state.versions(),
      ...(this.lastConfigAt ? { lastConfigAt: this.lastConfigAt } : {}),
      nacks: this.nacks,
      reconnects: this.reconnects,
    };
  }

  private lastError(): string | undefined {
    return this.streamError ?? [...this.rejections.values()].at(-1);
  }

  private connect(): void {
    const generation = ++this.generation;
    const stream = this.client!.StreamAggregatedResources();
    this.stream = stream;
    const current = () => generation === this.generation && this.running;
    stream.on('metadata', () => current() && this.setConnected(true));
    stream.on('data', (response: DiscoveryResponse) => current() && this.onResponse(response));
    stream.on('error', (error: ServiceError) => current() && this.onStreamEnd(error.details || error.message));
    stream.on('end', () => current() && this.onStreamEnd('Pilot ended the stream'));
    const node = {
      id: this.options.node.id,
      cluster: this.options.node.cluster,
      metadata: toStruct(this.options.node.metadata),
      user_agent_name: USER_AGENT,
    };
    this.state.openStream().forEach((request, index) => this.send(index === 0 ? { ...request, node } : request));
  }

  private onResponse(response: DiscoveryResponse): void {
    this.setConnected(true);
    this.attempt = 0;
    this.streamError = undefined;
    const handled = this.state.handle(response);
    for (const request of handled.requests) this.send(request);
    if (!handled.type) return;
    this.rejections.delete(handled.type);
    if (handled.error !== undefined) {
      this.nacks++;
      this.rejections.set(handled.type, handled.error);
      this.options.logger.warn(
        { type: handled.type, version: response.version_info, error: handled.error },
        'xDS config rejected (NACK); keeping the previous config',
      );
      return;
    }
    this.options.logger.debug({ type: handled.type, version: response.version_info }, 'xDS config accepted (ACK)');
    if (handled.changed) this.dirty = true;
    this.maybePublish();
  }

  private maybePublish(): void {
    if (!this.dirty) return;
    if (this.state.complete()) {
      this.publish();
      return;
    }
    this.completionTimer ??= setTimeout(() => {
      this.completionTimer = undefined;
      if (!this.dirty || !this.running) return;
      this.options.logger.warn(
        { missing: this.state.missing() },
        'xDS config incomplete after the timeout; using what arrived',
      );
      this.publish();
    }, this.options.completionTimeoutMs ?? 2_000);
  }

  private publish(): void {
    clearTimeout(this.completionTimer);
    this.completionTimer = undefined;
    this.dirty = false;
    const config = this.state.meshConfig();
    this.lastConfigAt = new Date();
    this.options.logger.info({ versions: config.versions }, 'new mesh config from Pilot');
    try {
      this.options.onConfig(config);
    } catch (error) {
      this.options.logger.error({ err: error }, 'applying the mesh config failed');
    }
  }

  private onStreamEnd(reason: string): void {
    this.generation++; // ignore whatever else this stream emits
    this.stream?.cancel();
    this.setConnected(false);
    this.streamError = reason;
    const delay = this.backoffDelay();
    this.options.logger.warn(
      { address: this.options.address, reason, retryInMs: Math.round(delay) },
      'xDS stream to Pilot lost; keeping the last config and reconnecting',
    );
    this.retryTimer = setTimeout(() => {
      if (!this.running) return;
      this.reconnects++;
      this.connect();
    }, delay);
  }

  /** Exponential backoff with "equal jitter": half fixed, half random. */
  private backoffDelay(): number {
    const initial = this.options.backoff?.initialMs ?? 500;
    const max = this.options.backoff?.maxMs ?? 30_000;
    const ceiling = Math.min(max, initial * 2 ** this.attempt++);
    return ceiling / 2 + (this.options.random ?? Math.random)() * (ceiling / 2);
  }

  private setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    if (connected) this.options.logger.info({ address: this.options.address }, 'xDS stream to Pilot open');
  }

  private send(request: DiscoveryRequest): void {
    try {
      this.stream?.write(request);
    } catch (error) {
      this.options.logger.debug({ err: error }, 'xDS request not sent (stream closing)');
    }
  }
}
