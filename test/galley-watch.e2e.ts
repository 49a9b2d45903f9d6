import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, loadPackageDefinition, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { fromStruct, GALLEY_PACKAGE, type GalleyWatchEvent } from '#libs/proto';
import { createTestDatabase, json, ServiceProcess, type TestDatabase } from '#libs/testing';
import { BOOKINFO, galleyClient } from './galley-fixtures';

const ADMIN = 'galley-watch-e2e-admin-token-0123456789';
const OPERATION = ['UNSPECIFIED', 'ADDED', 'MODIFIED', 'DELETED', 'SYNCED'];

const galleyProto = loadPackageDefinition(loadSync(GALLEY_PACKAGE.protoPath, PROTO_LOADER_OPTIONS)) as any;

function configWatch(service: ServiceProcess) {
  return new galleyProto.bowline.galley.v1.ConfigWatch(service.grpcAddress, credentials.createInsecure());
}

/** A Watch call that records its events (as `OPERATION kind/ns/name@version`) and its end. */
class Watcher {
  readonly events: GalleyWatchEvent[] = [];
  error?: ServiceError;
  private readonly call: ClientReadableStream<GalleyWatchEvent>;

  constructor(service: ServiceProcess, request: { kinds?: string[]; since_version?: string }) {
    this.call = configWatch(service).Watch(request);
    this.call.on('data', (event: GalleyWatchEvent) => this.events.push(event));
    this.call.on('error', (error: ServiceError) => (this.error = error));
  }

  get lines(): string[] {
    return this.events.map((e) =>
      e.resource
        ? `${OPERATION[e.operation]} ${e.resource.kind}/${e.resource.namespace}/${e.resource.name}@${e.version}`
        : `${OPERATION[e.operation]}@${e.version}`,
    );
  }

  async until(predicate: (lines: string[]) => boolean, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.lines)) {
      if (this.error) throw this.error;
      if (Date.now() > deadline) throw new Error(`timed out; got:\n${this.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.lines;
  }

  cancel(): void {
    this.call.cancel();
  }
}

const VS = (weight: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings, subset: v1}
      weight: ${weight}
    - destination: {host: ratings, subset: v2}
      weight: ${100 - weight}
`;

/** The change stream: resumable Watch across restarts, fan-out across replicas, relist, directory source. */
describe('galley change stream', () => {
  let db: TestDatabase;
  let scratch: string;
  let a: ServiceProcess;
  let b: ServiceProcess | undefined;
  const apiA = galleyClient(() => a, ADMIN);
  const env = () => ({ DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: ADMIN });

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    scratch = await mkdtemp(join(tmpdir(), 'bowline-galley-'));
    a = await ServiceProcess.spawn('galley', env());
    await a.waitFor('/readyz');
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('replays history in order, then streams live changes; a Watch resumes exactly after a restart', async () => {
    assert.equal((await apiA.apply(BOOKINFO)).status, 200);
    const watcher = new Watcher(a, { since_version: '0' });
    const replay = await watcher.until((lines) => lines.some((l) => l.startsWith('SYNCED')));
    assert.deepEqual(replay.slice(0, 2), [
      'ADDED VirtualService/default/reviews@1',
      'ADDED DestinationRule/default/reviews@2',
    ]);
    assert.equal(replay.at(-1), 'SYNCED@6');
    const first = watcher.events[0];
    assert.equal(
      fromStruct(first.resource!.object).spec &&
        (fromStruct(first.resource!.object) as any).spec.http[0].route[1].weight,
      25,
    );

    assert.equal((await apiA.apply(VS(50))).status, 200);
    await watcher.until((lines) => lines.includes('ADDED VirtualService/default/ratings@7'));
    watcher.cancel();

    await a.stop();
    assert.equal((await db.query('SELECT 1')).length, 1);
    a = await ServiceProcess.spawn('galley', env());
    await a.waitFor('/readyz');
    assert.equal((await apiA.apply(VS(80))).status, 200);
    const resumed = new Watcher(a, { since_version: '6', kinds: ['VirtualService'] });
    const lines = await resumed.until((l) => l.some((x) => x.startsWith('SYNCED')));
    assert.deepEqual(lines, [
      'ADDED VirtualService/default/ratings@7',
      'MODIFIED VirtualService/default/ratings@8',
      'SYNCED@8',
    ]);
    resumed.cancel();
  });

  it('fans a change applied through one replica out to watchers of both', async () => {
    b = await ServiceProcess.spawn('galley', env());
    await b.waitFor('/readyz');
    const onA = new Watcher(a, { since_version: '8' });
    const onB = new Watcher(b, { since_version: '8' });
    await onA.until((l) => l.includes('SYNCED@8'));
    await onB.until((l) => l.includes('SYNCED@8'));
    assert.equal((await galleyClient(() => b!, ADMIN).apply(VS(10))).status, 200);
    assert.equal((await apiA.call('DELETE', '/v1/resources/VirtualService/default/ratings')).status, 200);
    const expected = [
      'SYNCED@8',
      'MODIFIED VirtualService/default/ratings@9',
      'DELETED VirtualService/default/ratings@10',
    ];
    assert.deepEqual(await onA.until((l) => l.length >= 3), expected);
    assert.deepEqual(await onB.until((l) => l.length >= 3), expected);
    onA.cancel();
    onB.cancel();
  });

  it('lists a snapshot with its version, and asks to relist when history was pruned', async () => {
    const client = configWatch(a);
    const snapshot: any = await new Promise((resolve, reject) =>
      client.List({ kinds: ['WorkloadEntry'] }, (error: Error | null, response: unknown) =>
        error ? reject(error) : resolve(response),
      ),
    );
    assert.equal(snapshot.version, '10');
    assert.deepEqual(
      snapshot.resources.map((r: any) => r.name),
      ['reviews-v1', 'reviews-v2'],
    );
    assert.equal((fromStruct(snapshot.resources[0].object) as any).spec.address, '10.0.0.11');

    await b?.stop();
    b = await ServiceProcess.spawn('galley', {
      ...env(),
      GALLEY_HISTORY_RETENTION: '1s',
      GALLEY_HISTORY_PRUNE_INTERVAL: '500ms',
    });
    await b.waitFor('/readyz');
    const deadline = Date.now() + 10_000;
    while (Number((await db.query<{ v: string }>('SELECT compacted_version AS v FROM galley_state'))[0].v) < 10) {
      assert.ok(Date.now() < deadline, 'history was not pruned');
      await new Promise((r) => setTimeout(r, 200));
    }
    const live = await db.query('SELECT version FROM galley_changes ORDER BY version');
    assert.equal(live.length, 6, 'the latest version of each live resource is kept');
    const stale = new Watcher(b, { since_version: '3' });
    await assert.rejects(
      stale.until(() => false, 5_000),
      (error: ServiceError) => {
        assert.equal(error.code, 9); // FAILED_PRECONDITION
        assert.match(error.details, /^relist: version 3 is older than the retained history \(oldest 10\)/);
        return true;
      },
    );
    const fresh = new Watcher(b, { since_version: '10' });
    assert.deepEqual(await fresh.until((l) => l.length > 0), ['SYNCED@10']);
    fresh.cancel();
  });

  it('applies a config directory, keeps the last good version of a bad file and reports it', async () => {
    const dir = join(scratch, 'config');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir);
    await writeFile(join(dir, 'ratings.yaml'), VS(60));
    await b?.stop();
    b = await ServiceProcess.spawn('galley', { ...env(), GALLEY_CONFIG_DIR: dir, GALLEY_CONFIG_DIR_RESCAN: '1s' });
    await b.waitFor('/readyz');
    const apiB = galleyClient(() => b!, ADMIN);
    const waitFor = async (check: () => Promise<boolean>, what: string) => {
      const deadline = Date.now() + 10_000;
      while (!(await check())) {
        assert.ok(Date.now() < deadline, `timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const weight = async () => {
      const response = await apiB.call('GET', '/v1/resources/VirtualService/default/ratings');
      return response.status === 200 ? (await json(response)).spec.http[0].route[0].weight : undefined;
    };
    await waitFor(async () => (await weight()) === 60, 'the file is applied');

    await writeFile(join(dir, 'ratings.yaml'), VS(60).replace('weight: 40', 'weight: 45'));
    await waitFor(async () => (await apiB.get('/v1/sources')).files[0]?.status === 'error', 'the bad file is reported');
    const sources = await apiB.get('/v1/sources');
    assert.equal(sources.files[0].file, 'ratings.yaml');
    assert.equal(sources.files[0].errors[0].path, 'spec.http[0].route');
    assert.match(sources.files[0].error, /add up to 105/);
    assert.deepEqual(sources.files[0].resources, ['VirtualService/default/ratings']);
    assert.equal(await weight(), 60, 'the last good version stays active');
    assert.match(b.logs, /config file refused/);

    await writeFile(join(dir, 'ratings.yaml'), VS(70));
    await waitFor(async () => (await weight()) === 70, 'the fixed file is applied');
    const history = await apiB.get('/v1/resources/VirtualService/default/ratings/history');
    assert.equal(history.items.at(-1).source, 'file:ratings.yaml');

    await unlink(join(dir, 'ratings.yaml'));
    await waitFor(async () => (await weight()) === undefined, 'deleting the file deletes its resources');
    assert.equal((await apiB.get('/v1/resources/WorkloadEntry/default/reviews-v1')).metadata.name, 'reviews-v1');
  });
});
