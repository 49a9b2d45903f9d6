import { Injectable } from '@nestjs/common';

/** The config kinds Pilot reads from Galley. */
export const WATCHED_KINDS = [
  'ServiceEntry',
  'WorkloadEntry',
  'VirtualService',
  'DestinationRule',
  'PeerAuthentication',
] as const;
export type WatchedKind = (typeof WATCHED_KINDS)[number];

/** One Istio-shaped document as Galley stores it (apiVersion, kind, metadata, spec). */
export interface ConfigResource {
  readonly kind: WatchedKind;
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: number;
  readonly spec: Record<string, unknown>;
  readonly labels: Record<string, string>;
}

export type ConfigListener = () => void;

/**
 * Pilot's copy of the config resources, fed by Galley's Watch. It only ever changes by a
 * whole snapshot (relist) or one change at a time, so it always is a state Galley had; when
 * Galley is unreachable it simply keeps the last one (the mesh keeps its config).
 */
@Injectable()
export class ConfigStore {
  private readonly resources = new Map<string, ConfigResource>();
  private readonly listeners = new Set<ConfigListener>();
  private currentVersion = 0;
  private hasSynced = false;

  /** The Galley resource version this state reflects (0 before the first snapshot). */
  get version(): number {
    return this.currentVersion;
  }

  /** Whether a full state from Galley has been received at least once. */
  get synced(): boolean {
    return this.hasSynced;
  }

  onChange(listener: ConfigListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every resource of `kind`, ordered by namespace then name (so generated config is stable). */
  list(kind: WatchedKind): ConfigResource[] {
    return [...this.resources.values()]
      .filter((resource) => resource.kind === kind)
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }

  /** Replaces everything with a snapshot (List) at `version`. */
  replace(resources: readonly ConfigResource[], version: number): void {
    this.resources.clear();
    for (const resource of resources) this.resources.set(keyOf(resource), resource);
    this.currentVersion = version;
    this.hasSynced = true;
    this.emit();
  }

  /** Applies one change from the Watch stream; `resource` is the state after it (before it, for a delete). */
  apply(operation: 'upsert' | 'delete', resource: ConfigResource, version: number): void {
    if (operation === 'delete') this.resources.delete(keyOf(resource));
    else this.resources.set(keyOf(resource), resource);
    this.currentVersion = Math.max(this.currentVersion, version);
    this.emit();
  }

  /** The Watch replay is complete up to `version`. */
  markSynced(version: number): void {
    this.currentVersion = Math.max(this.currentVersion, version);
    this.hasSynced = true;
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

function keyOf(resource: { kind: string; namespace: string; name: string }): string {
  return `${resource.kind}/${resource.namespace}/${resource.name}`;
}
