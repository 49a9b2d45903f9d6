import type { Logger } from '#libs/logging';
import { loadBootstrapFile } from './bootstrap';
import type { MeshConfig, MeshConfigSource } from './model';
import { XdsClient, type XdsClientOptions } from './xds-client';

/** What the store needs of an xDS client (XdsClient; a fake in tests). */
export interface XdsClientLike {
  start(): void;
  stop(): void;
  status(): { readonly connected: boolean; readonly lastError?: string };
}

export interface MeshConfigStoreOptions {
  readonly logger: Logger;
  /** A static bootstrap file (JSON or YAML): the config until Pilot's first complete one. */
  readonly bootstrapFile?: string;
  /** An already translated bootstrap config (instead of a file). */
  readonly bootstrap?: MeshConfig;
  /** Pilot's ADS; unset: the bootstrap is all there is. */
  readonly pilot?: Omit<XdsClientOptions, 'onConfig' | 'logger'>;
  /**
   * Keep the bootstrap's listeners, routes and clusters beside Pilot's (Pilot wins on equal
   * names), as Envoy keeps static resources. Default: Pilot's config replaces the bootstrap.
   */
  readonly mergeBootstrap?: boolean;
  /** Makes the xDS client (tests inject a fake). */
  readonly createClient?: (options: XdsClientOptions) => XdsClientLike;
}

/**
 * The proxy's current `MeshConfig`: the bootstrap file's until Pilot's first complete config
 * arrives, then Pilot's (each new one replaces the previous atomically). Listeners hear every
 * change; a failing listener is logged and does not stop the others.
 */
export class MeshConfigStore implements MeshConfigSource {
  private config?: MeshConfig;
  private bootstrap?: MeshConfig;
  private source: 'pilot' | 'bootstrap' | 'none' = 'none';
  private readonly listeners = new Set<(config: MeshConfig) => void>();
  private client?: XdsClientLike;

  constructor(private readonly options: MeshConfigStoreOptions) {}

  /** Loads the bootstrap (an invalid file throws `MeshConfigError`) and starts following Pilot. */
  start(): void {
    this.bootstrap =
      this.options.bootstrap ??
      (this.options.bootstrapFile ? loadBootstrapFile(this.options.bootstrapFile) : undefined);
    if (this.bootstrap && this.source === 'none') {
      this.options.logger.info({ versions: this.bootstrap.versions }, 'mesh config from the bootstrap file');
      this.apply(this.bootstrap, 'bootstrap');
    }
    if (this.options.pilot && !this.client) {
      const create = this.options.createClient ?? ((options: XdsClientOptions) => new XdsClient(options));
      this.client = create({
        ...this.options.pilot,
        logger: this.options.logger,
        onConfig: (config) => this.acceptPilot(config),
      });
      this.client.start();
    }
  }

  stop(): void {
    this.client?.stop();
  }

  current(): MeshConfig | undefined {
    return this.config;
  }

  onChange(listener: (config: MeshConfig) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  status(): {
    readonly source: 'pilot' | 'bootstrap' | 'none';
    readonly connected: boolean;
    readonly lastError?: string;
  } {
    const client = this.client?.status();
    return {
      source: this.source,
      connected: client?.connected ?? false,
      ...(client?.lastError !== undefined ? { lastError: client.lastError } : {}),
    };
  }

  private acceptPilot(config: MeshConfig): void {
    const merged = this.options.mergeBootstrap && this.bootstrap ? withStatic(config, this.bootstrap) : config;
    this.apply(merged, 'pilot');
  }

  private apply(config: MeshConfig, source: 'pilot' | 'bootstrap'): void {
    this.config = config;
    this.source = source;
    for (const listener of this.listeners) {
      try {
        listener(config);
      } catch (error) {
        this.options.logger.error({ err: error }, 'a mesh config listener failed');
      }
    }
  }
}

/** Pilot's config with the bootstrap's resources under it (Pilot wins on equal names). */
function withStatic(dynamic: MeshConfig, bootstrap: MeshConfig): MeshConfig {
  const merge = <V>(under: ReadonlyMap<string, V>, over: ReadonlyMap<string, V>) => new Map([...under, ...over]);
  return {
    ...dynamic,
    listeners: merge(bootstrap.listeners, dynamic.listeners),
    routes: merge(bootstrap.routes, dynamic.routes),
    clusters: merge(bootstrap.clusters, dynamic.clusters),
    endpoints: merge(
      new Map([...bootstrap.endpoints].filter(([name]) => !dynamic.clusters.has(name))),
      dynamic.endpoints,
    ),
    raw: {
      ...dynamic.raw,
      static_listeners: bootstrap.raw.listeners ?? [],
      static_clusters: bootstrap.raw.clusters ?? [],
    },
  };
}
