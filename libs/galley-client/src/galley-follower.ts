import {
  type Client,
  type ClientReadableStream,
  credentials,
  loadPackageDefinition,
  type ServiceError,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Logger } from '@nestjs/common';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import {
  GALLEY_PACKAGE,
  GalleyOperation,
  type GalleyListResponse,
  type GalleyResource,
  type GalleyWatchEvent,
} from '#libs/proto';

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;

interface ConfigWatchClient extends Client {
  List(
    request: { kinds: string[] },
    callback: (error: ServiceError | null, response: GalleyListResponse) => void,
  ): void;
  Watch(request: { kinds: string[]; since_version: string }): ClientReadableStream<GalleyWatchEvent>;
}

/** What a follower tells its owner; versions are Galley's global resource versions. */
export interface GalleyFollowerHandlers {
  /** A consistent snapshot of every resource of the watched kinds (initially, and after a relist). */
  snapshot(resources: GalleyResource[], version: number): void;
  upsert(resource: GalleyResource, version: number): void;
  delete(resource: GalleyResource, version: number): void;
  /** Caught up with Galley at `version` (a SYNCED marker, or a change of another kind). */
  synced(version: number): void;
  /** A Watch stream opened (true) or was lost (false). */
  connection?(connected: boolean): void;
}

/** How the follower is doing, for status endpoints. */
export interface GalleyFollowerStatus {
  address: string;
  connected: boolean;
  version: number | null;
  lastEventAt: string | null;
  lastError: string | null;
}

/**
 * Follows Galley's `ConfigWatch` for some kinds: List (a consistent snapshot), then Watch from
 * its version. A dropped stream resumes from the last version seen, with exponential backoff
 * and jitter while Galley is away (the owner keeps its last content); FAILED_PRECONDITION
 * "relist" (history pruned past our version) lists again. Shared by Pilot and Policy.
 */
export class GalleyFollower {
  private readonly logger: Logger;
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
    private readonly params: { address: string; kinds: string[]; name: string; now?: () => Date },
    private readonly handlers: GalleyFollowerHandlers,
  ) {
    this.logger = new Logger(params.name);
  }

  get status(): GalleyFollowerStatus {
    return {
      address: this.params.address,
      connected: this.connected,
      version: this.version ?? null,
      lastEventAt: this.lastEventAt?.toISOString() ?? null,
      lastError: this.lastError,
    };
  }

  start(): void {
    const proto = loadPackageDefinition(loadSync(GALLEY_PACKAGE.protoPath, PROTO_LOADER_OPTIONS)) as unknown as {
      bowline: { galley: { v1: { ConfigWatch: new (address: string, creds: unknown) => ConfigWatchClient } } };
    };
    this.client = new proto.bowline.galley.v1.ConfigWatch(this.params.address, credentials.createInsecure());
    void this.cycle();
  }

  stop(): void {
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
        msg: 'Galley watch failed; keeping the last config and retrying',
        address: this.params.address,
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
      client.List({ kinds: this.params.kinds }, (error, value) => (error ? reject(error) : resolve(value))),
    );
    const version = Number(response.version);
    const resources = response.resources.filter((r) => this.params.kinds.includes(r.kind));
    this.handlers.snapshot(resources, version);
    this.version = version;
    this.lastEventAt = this.now();
    this.logger.log({ msg: 'config listed from Galley', version, resources: resources.length });
  }

  /** Resolves when the stream ends cleanly, rejects with its error. */
  private watch(since: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.client!.Watch({ kinds: this.params.kinds, since_version: String(since) });
      this.stream = stream;
      stream.on('data', (event: GalleyWatchEvent) => {
        this.setConnected(true);
        this.backoffMs = BACKOFF_MIN_MS;
        this.lastError = null;
        this.lastEventAt = this.now();
        this.onEvent(event);
      });
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
  }

  private onEvent(event: GalleyWatchEvent): void {
    const version = Number(event.version);
    const resource = event.resource;
    if (event.operation === GalleyOperation.SYNCED || !resource || !this.params.kinds.includes(resource.kind)) {
      this.handlers.synced(version);
    } else if (event.operation === GalleyOperation.DELETED) {
      this.handlers.delete(resource, version);
    } else {
      this.handlers.upsert(resource, version);
    }
    this.version = version;
  }

  private setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    this.handlers.connection?.(connected);
    if (connected) this.logger.log({ msg: 'watching Galley', address: this.params.address, since: this.version });
  }

  private now(): Date {
    return this.params.now?.() ?? new Date();
  }
}
