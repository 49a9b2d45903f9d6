import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { GalleyFollower } from '#libs/galley-client';
import { SERVICE_CONFIG } from '#libs/host';
import { fromStruct, type GalleyResource } from '#libs/proto';
import type { PilotConfig } from '../config';
import { PilotMetrics } from '../metrics/pilot-metrics';
import { type ConfigResource, ConfigStore, WATCHED_KINDS, type WatchedKind } from './config-store';

/** Follows Galley (`PILOT_GALLEY_ADDRESS`) into the ConfigStore, with the shared GalleyFollower. */
@Injectable()
export class GalleyWatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly follower: GalleyFollower;

  constructor(
    @Inject(SERVICE_CONFIG) config: PilotConfig,
    @Inject(ConfigStore) store: ConfigStore,
    @Inject(PilotMetrics) metrics: PilotMetrics,
  ) {
    const applied = (version: number) => metrics.configVersion(version);
    this.follower = new GalleyFollower(
      { address: config.galleyAddress, kinds: [...WATCHED_KINDS], name: 'GalleyWatcher' },
      {
        snapshot: (resources, version) => {
          store.replace(resources.map(toConfigResource).filter(isDefined), version);
          applied(version);
        },
        upsert: (resource, version) => {
          const converted = toConfigResource(resource);
          if (converted) store.apply('upsert', converted, version);
          applied(version);
        },
        delete: (resource, version) => {
          const converted = toConfigResource(resource);
          if (converted) store.apply('delete', converted, version);
          applied(version);
        },
        synced: (version) => {
          store.markSynced(version);
          applied(version);
        },
        connection: (connected) => metrics.galleyConnected(connected),
      },
    );
  }

  /** Whether a Watch stream to Galley is open right now. */
  get connected(): boolean {
    return this.follower.status.connected;
  }

  onApplicationBootstrap(): void {
    this.follower.start();
  }

  onModuleDestroy(): void {
    this.follower.stop();
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
