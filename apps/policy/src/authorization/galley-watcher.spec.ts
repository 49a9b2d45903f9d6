import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceClientConstructor,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { SYSTEM_CLOCK } from '#libs/host';
import { GALLEY_PACKAGE, GalleyOperation, type ProtoStruct } from '#libs/proto';
import type { PolicyConfig } from '../config';
import { AuthorizationMetrics } from './authorization.metrics';
import { GalleyAuthorizationWatcher } from './galley-watcher';
import { AuthorizationPolicySet } from './policy-set';

const str = (value: string) => ({ stringValue: value });
const resource = (name: string, action: string, version: number) => ({
  api_version: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  namespace: 'foo',
  name,
  resource_version: String(version),
  source: 'api',
  object: {
    fields: {
      metadata: {
        structValue: { fields: { name: str(name), annotations: { structValue: { fields: { a: str('b') } } } } },
      },
      spec: { structValue: { fields: { action: str(action) } } },
    },
  } satisfies ProtoStruct,
});

/** A fake Galley: the first Watch asks to relist (history pruned), later ones stream from the new List. */
class FakeGalley {
  lists = 0;
  watches: string[] = [];
  private readonly server = new Server();
  address = '';

  async start(): Promise<void> {
    const pkg = loadPackageDefinition(loadSync(GALLEY_PACKAGE.protoPath, PROTO_LOADER_OPTIONS)) as any;
    const service = (pkg.bowline.galley.v1.ConfigWatch as ServiceClientConstructor).service;
    this.server.addService(service, {
      List: (_call: ServerUnaryCall<unknown, unknown>, callback: (e: null, r: unknown) => void) => {
        this.lists += 1;
        callback(
          null,
          this.lists === 1
            ? { version: '5', resources: [resource('old', 'DENY', 5)] }
            : { version: '9', resources: [resource('new', 'ALLOW', 8)] },
        );
      },
      Watch: (call: ServerWritableStream<{ since_version: string }, unknown>) => {
        this.watches.push(call.request.since_version);
        if (this.watches.length === 1) {
          call.emit('error', {
            code: GrpcStatus.FAILED_PRECONDITION,
            details: 'relist: version 5 is older than the retained history',
          });
          return;
        }
        call.write({ version: '9', operation: GalleyOperation.SYNCED, resource: null });
        call.write({ version: '10', operation: GalleyOperation.ADDED, resource: resource('later', 'DENY', 10) });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    this.address = `127.0.0.1:${port}`;
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

describe('GalleyAuthorizationWatcher', () => {
  const galley = new FakeGalley();
  before(async () => {
    Logger.overrideLogger(false);
    await galley.start();
  });
  after(() => galley.stop());

  it('lists, relists when Galley says the history is gone, then follows the watch', async () => {
    const set = new AuthorizationPolicySet();
    const config = { galleyAddress: galley.address } as PolicyConfig;
    const watcher = new GalleyAuthorizationWatcher(config, set, SYSTEM_CLOCK, new AuthorizationMetrics(new Registry()));
    watcher.onApplicationBootstrap();
    try {
      const deadline = Date.now() + 10_000;
      while (set.state.version !== 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(galley.watches, ['5', '9']);
      assert.equal(galley.lists, 2);
      const state = set.state;
      assert.equal(state.synced, true);
      assert.deepEqual(
        state.policies.map((p) => [p.name, p.spec.action, p.resourceVersion]),
        [
          ['later', 'DENY', 10],
          ['new', 'ALLOW', 8],
        ],
      );
      assert.deepEqual(state.policies[1].annotations, { a: 'b' });
      assert.equal(watcher.status.connected, true);
    } finally {
      watcher.onModuleDestroy();
    }
  });
});
