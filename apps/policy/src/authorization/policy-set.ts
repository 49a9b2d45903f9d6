import { Injectable } from '@nestjs/common';
import type { AuthorizationPolicyResource } from './normalise';

/** Where the set stands against Galley. */
export interface PolicySetState {
  /** Galley's resource version the set reflects; null until the first List. */
  version: number | null;
  /** True once a List has been loaded (the set is Galley's, not an empty guess). */
  synced: boolean;
  policies: AuthorizationPolicyResource[];
}

/**
 * The current AuthorizationPolicies as Galley last reported them. It only changes by a whole
 * snapshot (List) or one change (Watch); while Galley is away it keeps the last set it had.
 * Listeners hear about every change (the engine debounces them).
 */
@Injectable()
export class AuthorizationPolicySet {
  private readonly byKey = new Map<string, AuthorizationPolicyResource>();
  private readonly listeners: (() => void)[] = [];
  private currentVersion: number | null = null;
  private loaded = false;

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  get state(): PolicySetState {
    const policies = [...this.byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
    return { version: this.currentVersion, synced: this.loaded, policies };
  }

  /** A snapshot (List) replaces the whole set. */
  replace(policies: AuthorizationPolicyResource[], version: number): void {
    this.byKey.clear();
    for (const policy of policies) this.byKey.set(key(policy), policy);
    this.currentVersion = version;
    this.loaded = true;
    this.changed();
  }

  upsert(policy: AuthorizationPolicyResource, version: number): void {
    this.byKey.set(key(policy), policy);
    this.currentVersion = Math.max(this.currentVersion ?? 0, version);
    this.changed();
  }

  delete(namespace: string, name: string, version: number): void {
    this.byKey.delete(`${namespace}/${name}`);
    this.currentVersion = Math.max(this.currentVersion ?? 0, version);
    this.changed();
  }

  /** A version with no change for us (e.g. the SYNCED marker). */
  advance(version: number): void {
    if (this.currentVersion !== null && version <= this.currentVersion) return;
    this.currentVersion = version;
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

function key(policy: { namespace: string; name: string }): string {
  return `${policy.namespace}/${policy.name}`;
}
