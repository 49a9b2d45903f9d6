import {
  type Client,
  type ClientReadableStream,
  credentials,
  loadPackageDefinition,
  type ServiceError,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import {
  GALLEY_PACKAGE,
  GalleyOperation,
  type GalleyListResponse,
  type GalleyResource,
  type GalleyWatchEvent,
} from '#libs/proto';
import type { PolicyConfig } from '../config';
import { AuthorizationMetrics } from './authorization.metrics';
import type { AuthorizationPolicyResource } from './normalise';
import { AuthorizationPolicySet } from './policy-set';
import { fromStruct } from '#libs/proto';

const KIND = 'AuthorizationPolicy';
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;

interface ConfigWatchClient extends Client {
  List(
    request: { kinds: string[] },
    callback: (error: ServiceError | null, response: GalleyListResponse) => void,
  ): void;
  Watch(request: { kinds: string[]; since_version: string }): ClientReadableStream<GalleyWatchEvent>;
}

/** The watch as the status endpoint reports it. */
export interface GalleyWatchStatus {
  address: string;
  connected: boolean;
  lastEventAt: string | null;
  lastError: string | null;
}

/**
 * Follows Galley's `ConfigWatch` for AuthorizationPolicies into the AuthorizationPolicySet:
 * List (a consistent snapshot), then Watch from its version; a dropped stream resumes from the
 * last version seen, with exponential backoff while Galley is away (the set keeps its last
 * content); FAILED_PRECONDITION "relist" (history pruned past our version) lists again.
 */
@Injectable()
export class GalleyAuthorizationWatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('GalleyAuthzWatch');
  private client?: ConfigWatchClient;
  private stream?: ClientReadableStream<GalleyWatchEvent>;
  private stopped = false;
  private version?: number;
  private backoffMs = BACKOFF_MIN_MS;
  private retry?: NodeJS.Timeout;
  private connected = false;
  private lastEventAt: Date | null = null;
  private lastError: string | null = null;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
    @Inject(AuthorizationPolicySet) private readonly set: AuthorizationPolicySet,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(AuthorizationMetrics) private readonly metrics: AuthorizationMetrics,
  ) {}

  get status(): GalleyWatchStatus {
    return {
      address: this.config.galleyAddress,
      connected: this.connected,
      lastEventAt: this.lastEventAt?.toISOString() ?? null,
      lastError: this.lastError,
    };
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

  /** One attempt: list when we have no version, then watch until the stream ends or fails. */
  private async cycle(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.version === undefined) await this.relist();
      await this.watch(this.version ?? 0);
      this.lastError = 'the watch stream ended';
    } catch (error) {
      const serviceError = error as ServiceError;
      if (serviceError.code === GrpcStatus.FAILED_PRECONDITION && /^relist/.test(serviceError.details ?? '')) {
        this.logger.log({ msg: 'Galley asks to relist', since: this.version });
        this.version = undefined;
        this.schedule(0);
        return;
      }
      if (this.stopped) return;
      this.lastError = serviceError.details ?? String(error);
      this.logger.warn({
        msg: 'Galley watch failed; keeping the last AuthorizationPolicy set and retrying',
        address: this.config.galleyAddress,
        reason: this.lastError,
        retryInMs: this.backoffMs,
      });
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
      client.List({ kinds: [KIND] }, (error, value) => (error ? reject(error) : resolve(value))),
    );
    const version = Number(response.version);
    this.set.replace(response.resources.filter((r) => r.kind === KIND).map(toPolicy), version);
    this.version = version;
    this.lastEventAt = this.clock.now();
    this.logger.log({ msg: 'AuthorizationPolicies listed from Galley', version, count: response.resources.length });
  }

  /** Resolves when the stream ends cleanly, rejects with its error. */
  private watch(since: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.client!.Watch({ kinds: [KIND], since_version: String(since) });
      this.stream = stream;
      stream.on('data', (event: GalleyWatchEvent) => {
        this.setConnected(true);
        this.backoffMs = BACKOFF_MIN_MS;
        this.lastError = null;
        this.lastEventAt = this.clock.now();
        this.onEvent(event);
      });
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
  }

  private onEvent(event: GalleyWatchEvent): void {
    const version = Number(event.version);
    const resource = event.resource;
    if (event.operation === GalleyOperation.SYNCED || !resource || resource.kind !== KIND) {
      this.set.advance(version);
    } else if (event.operation === GalleyOperation.DELETED) {
      this.set.delete(resource.namespace, resource.name, version);
    } else {
      this.set.upsert(toPolicy(resource), version);
    }
    this.version = version;
  }

  private setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    this.metrics.galleyConnected(connected);
    if (connected) this.logger.log({ msg: 'watching Galley', address: this.config.galleyAddress, since: this.version });
  }
}

function toPolicy(resource: GalleyResource): AuthorizationPolicyResource {
  const object = fromStruct(resource.object);
  const metadata = (object.metadata ?? {}) as { annotations?: Record<string, unknown> };
  const annotations = Object.fromEntries(
    Object.entries(metadata.annotations ?? {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
  const spec = object.spec;
  return {
    namespace: resource.namespace,
    name: resource.name,
    annotations,
    spec: typeof spec === 'object' && spec !== null && !Array.isArray(spec) ? (spec as Record<string, unknown>) : {},
    resourceVersion: Number(resource.resource_version),
  };
}
