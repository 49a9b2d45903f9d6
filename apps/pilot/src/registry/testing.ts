import type { ConfigResource, WatchedKind } from './config-store';

/** A resource in namespace `default` at version 1, as Galley's Watch delivers one (for tests and benches). */
export function configResource(kind: WatchedKind, name: string, spec: Record<string, unknown>): ConfigResource {
  return { kind, namespace: 'default', name, resourceVersion: 1, spec, labels: {} };
}
