import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '#libs/logging';
import { bootstrapMeshConfig } from './bootstrap';
import { MeshConfigStore } from './mesh-config.store';
import { EMPTY_MESH_CONFIG, type MeshConfig } from './model';
import type { XdsClientOptions } from './xds-client';

const logger = createLogger('mesh-config-store-spec', 'silent');

const BOOTSTRAP = bootstrapMeshConfig({
  static_resources: {
    clusters: [
      { name: 'static-only', load_assignment: { cluster_name: 'static-only', endpoints: [] } },
      { name: 'shared', load_assignment: { cluster_name: 'shared', endpoints: [] } },
    ],
  },
});
const PILOT: MeshConfig = {
  ...EMPTY_MESH_CONFIG,
  versions: { listeners: 'l1', routes: 'r1', clusters: 'c1', endpoints: 'e1' },
  clusters: new Map([['shared', { ...BOOTSTRAP.clusters.get('shared')!, connectTimeoutMs: 42 }]]),
};

/** A stand-in xDS client the test drives. */
class FakeClient {
  started = false;
  stopped = false;
  connected = false;
  lastError?: string;
  constructor(readonly options: XdsClientOptions) {}
  start(): void {
    this.started = true;
  }
  stop(): void {
    this.stopped = true;
  }
  status() {
    return { connected: this.connected, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }
}

function storeWith(options: { bootstrap?: MeshConfig; mergeBootstrap?: boolean }) {
  let client: FakeClient | undefined;
  const store = new MeshConfigStore({
    logger,
    ...options,
    pilot: { address: '127.0.0.1:15010', node: { id: 'n', cluster: 'c', metadata: {} } },
    createClient: (clientOptions) => (client = new FakeClient(clientOptions)),
  });
  return { store, client: () => client! };
}

describe('MeshConfigStore', () => {
  it('serves the bootstrap config until Pilot sends one, then Pilot', () => {
    const { store, client } = storeWith({ bootstrap: BOOTSTRAP });
    const seen: MeshConfig[] = [];
    store.onChange((config) => seen.push(config));
    assert.equal(store.current(), undefined);
    assert.deepEqual(store.status(), { source: 'none', connected: false });
    store.start();
    assert.equal(store.current(), BOOTSTRAP);
    assert.equal(store.status().source, 'bootstrap');
    assert.ok(client().started);

    client().connected = true;
    client().options.onConfig(PILOT);
    assert.equal(store.current(), PILOT, 'Pilot replaces the bootstrap');
    assert.deepEqual(store.status(), { source: 'pilot', connected: true });
    assert.deepEqual(seen, [BOOTSTRAP, PILOT]);

    client().connected = false;
    client().lastError = 'Pilot is restarting';
    assert.deepEqual(store.status(), { source: 'pilot', connected: false, lastError: 'Pilot is restarting' });
    assert.equal(store.current(), PILOT, 'the last config keeps serving');
    store.stop();
    assert.ok(client().stopped);
  });

  it("keeps the bootstrap's resources under Pilot's when asked to merge", () => {
    const { store, client } = storeWith({ bootstrap: BOOTSTRAP, mergeBootstrap: true });
    store.start();
    client().options.onConfig(PILOT);
    const config = store.current()!;
    assert.deepEqual([...config.clusters.keys()].sort(), ['shared', 'static-only']);
    assert.equal(config.clusters.get('shared')!.connectTimeoutMs, 42, 'Pilot wins');
    assert.equal(config.endpoints.has('shared'), false, "Pilot's cluster, Pilot's (missing) endpoints");
    assert.deepEqual(config.endpoints.get('static-only'), []);
  });

  it('keeps notifying the other listeners when one throws, and stops notifying after unsubscribing', () => {
    const { store, client } = storeWith({});
    const seen: string[] = [];
    store.onChange(() => {
      throw new Error('broken listener');
    });
    const unsubscribe = store.onChange((config) => seen.push(config.versions.clusters));
    store.start();
    assert.equal(store.current(), undefined, 'no bootstrap: nothing until Pilot');
    client().options.onConfig(PILOT);
    unsubscribe();
    client().options.onConfig({ ...PILOT, versions: { ...PILOT.versions, clusters: 'c2' } });
    assert.deepEqual(seen, ['c1']);
    assert.equal(store.current()!.versions.clusters, 'c2');
  });
});
