import {
  type ClientReadableStream,
  credentials,
  type Client,
  loadPackageDefinition,
  type ServiceError,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { SERVICE_CONFIG } from '#libs/host';
import {
  GALLEY_PACKAGE,
  GalleyOperation,
  type GalleyListResponse,
  type GalleyResource,
  type GalleyWatchEvent,
} from '#libs/proto';
import type { PilotConfig } from '../config';
import { PilotMetrics } from '../metrics/pilot-metrics';
import { type ConfigResource, ConfigStore, WATCHED_KINDS, type WatchedKind } from './config-store';
import { fromStruct } from '#libs/proto';

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;

interface ConfigWatchClient extends Client {
  List(
    request: { kinds: string[] },
    callback: (error: ServiceError | null, response: GalleyListResponse) => void,
  ): void;
  Watch(request: { kinds: string[]; since_version: string }): ClientReadableStream<GalleyWatchEvent>;
}

/**
 * Follows Galley's `ConfigWatch` into the ConfigStore: List (a consistent snapshot), then Watch
 * from its version; a dropped stream resumes from the last version seen, with exponential
 * backoff while Galley is away; "relist" (history pruned past our version) lists again.
 */
@Injectable()
export class GalleyWatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('GalleyWatcher');
  private client?: ConfigWatchClient;
  private stream?: ClientReadableStream<GalleyWatchEvent>;
  private stopped = false;
  private version?: number;
  private backoffMs = BACKOFF_MIN_MS;
  private retry?: NodeJS.Timeout;
  private connectedNow = false;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: PilotConfig,
    @Inject(ConfigStore) private readonly store: ConfigStore,
    @Inject(PilotMetrics) private readonly metrics: PilotMetrics,
  ) {}

  /** Whether a Watch stream to Galley is open right now. */
  get connected(): boolean {
    return this.connectedNow;
  }

  onApplicationBootstrap(): void {
    const proto = loadPackageDefinition(loadSync(GALLEY_PACKAGE.protoPath, PROTO_LOADER_OPTIONS)) as unknown as {
      bowline: { galley: { v1: { ConfigWatch: new (address: string, creds: unknown) => ConfigWatchClient } } };
    };
    this.client = new proto.bowline.galley.v1.ConfigWatch(this.config.galleyAddress, credentials.createInsecure());
    void this.cycle();
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.stream?.cancel();
    this.client?.close();
  }

  /** One attempt: list when we have no version, then watch until the stream ends. */
  private async cycle(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.version === undefined) await this.relist();
      await this.watch(this.version ?? 0);
    } catch (error) {
      const serviceError = error as ServiceError;
      if (serviceError.code === GrpcStatus.FAILED_PRECONDITION && /^relist/.test(serviceError.details ?? '')) {
        this.logger.log({ msg: 'Galley asks to relist', since: this.version });
        this.version = undefined;
        this.schedule(0);
        return;
      }
      if (serviceError.code !== GrpcStatus.CANCELLED || !this.stopped) {
        this.logger.warn({
          msg: 'Galley watch failed; keeping the last config and retrying',
          address: this.config.galleyAddress,
          reason: serviceError.details ?? String(error),
          retryInMs: this.backoffMs,
        });
      }
    }
    this.setConnected(false);
    this.schedule(this.backoffMs);
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    const jitter = delayMs > 0 ? Math.random() * delayMs * 0.2 : 0;
    this.retry = setTimeout(() => void this.cycle(), delayMs + jitter);
  }

  private async relist(): Promise<void> {
    const client = this.client!;
    const response = await new Promise<GalleyListResponse>((resolve, reject) =>
      client.List({ kinds: [...WATCHED_KINDS] }, (error, value) => (error ? reject(error) : resolve(value))),
    );
    const version = Number(response.version);
    this.store.replace(response.resources.map(toConfigResource).filter(isDefined), version);
    this.version = version;
    this.metrics.configVersion(version);
    this.logger.log({ msg: 'config listed from Galley', version, resources: response.resources.length });
  }

  /** Resolves when the stream ends cleanly, rejects with its error. */
  private watch(since: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.client!.Watch({ kinds: [...WATCHED_KINDS], since_version: String(since) });
      this.stream = stream;
      stream.on('data', (event: GalleyWatchEvent) => {
        this.setConnected(true);
        this.backoffMs = BACKOFF_MIN_MS;
        this.onEvent(event);
      });
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
  }

  private onEvent(event: GalleyWatchEvent): void {
    const version = Number(event.version);
    if (event.operation === GalleyOperation.SYNCED) {
      this.store.markSynced(version);
    } else {
      const resource = event.resource ? toConfigResource(event.resource) : undefined;
      if (resource)
        this.store.apply(event.operation === GalleyOperation.DELETED ? 'delete' : 'upsert', resource, version);
    }
    this.version = version;
    this.metrics.configVersion(version);
  }

  private setConnected(connected: boolean): void {
    if (connected === this.connectedNow) return;
    this.connectedNow = connected;
    this.metrics.galleyConnected(connected);
    if (connected) this.logger.log({ msg: 'watching Galley', address: this.config.galleyAddress, since: this.version });
  }
}

function toConfigResource(resource: GalleyResource): ConfigResource | undefined {
  if (!(WATCHED_KINDS as readonly string[]).includes(resource.kind)) return undefined;
  const object = fromStruct(resource.object);
  const metadata = (object.metadata ?? {}) as { labels?: Record<string, string> };
  return {
    kind: resource.kind as WatchedKind,
    namespace: resource.namespace,
    name: resource.name,
    resourceVersion: Number(resource.resource_version),
    spec: (object.spec ?? {}) as Record<string, unknown>,
    labels: metadata.labels ?? {},
  };
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}
