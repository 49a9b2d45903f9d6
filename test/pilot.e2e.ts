import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, json, repoRoot, ServiceProcess, type TestDatabase } from '#libs/testing';
import { AdsStream, TYPE } from './fixtures/ads-client';
import { startEchoServer } from './fixtures/echo';
import { galleyClient } from './galley-fixtures';

const ADMIN = 'pilot-e2e-admin-token-0123456789abcdef';
const TARGET = 'xds:///echo.default.svc.cluster.local:7070';
const CLIENT_NODE = 'sidecar~127.0.0.1~client.default~default.svc.cluster.local';

const mesh = (portA: number, portB: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {number: 7070, name: grpc, protocol: GRPC}
  resolution: STATIC
  workloadSelector:
    labels: {app: echo}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: echo-a}
spec:
  address: 127.0.0.1
  ports: {grpc: ${portA}}
  labels: {app: echo, version: v1}
  serviceAccount: echo
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: echo-b}
spec:
  address: 127.0.0.1
  ports: {grpc: ${portB}}
  labels: {app: echo, version: v2}
  serviceAccount: echo
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

const split = (v1: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - route:
    - destination: {host: echo, subset: v1}
      weight: ${v1}
    - destination: {host: echo, subset: v2}
      weight: ${100 - v1}
`;

/** The proxyless gRPC client (test/fixtures/xds-client.ts) in its own process. */
class XdsClientProcess {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private output = '';

  constructor(pilot: ServiceProcess) {
    const bootstrap = {
      xds_servers: [
        { server_uri: pilot.grpcAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
      ],
      node: { id: CLIENT_NODE, locality: {}, metadata: { NAMESPACE: 'default', SERVICE_ACCOUNT: 'client' } },
    };
    this.child = spawn(process.execPath, [join(repoRoot(), 'dist', 'test', 'fixtures', 'xds-client.js')], {
      cwd: repoRoot(),
      env: { PATH: process.env.PATH ?? '', GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), XDS_TARGET: TARGET },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.lines.push(line));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  /** Makes `calls` calls; which server answered how often, and the errors. */
  async call(calls: number): Promise<{ counts: Record<string, number>; errors: string[] }> {
    const before = this.lines.length;
    this.child.stdin!.write(`${JSON.stringify({ calls })}\n`);
    const deadline = Date.now() + 60_000;
    while (this.lines.length === before) {
      if (this.child.exitCode !== null) throw new Error(`xds client exited:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`xds client did not answer:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return JSON.parse(this.lines[before]);
  }

  /** Calls until `accept(counts)` holds for a whole batch; returns that batch. */
  async until(accept: (counts: Record<string, number>) => boolean, what: string, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    let last: { counts: Record<string, number>; errors: string[] } | undefined;
    while (Date.now() < deadline) {
      last = await this.call(12);
      if (last.errors.length === 0 && accept(last.counts)) return last.counts;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}; last batch ${JSON.stringify(last)}`);
  }

  stop(): void {
    this.child.kill();
  }
}

const servers = (counts: Record<string, number>) => Object.keys(counts).sort().join(',');

/** Pilot against a real Galley, with real gRPC servers and a proxyless @grpc/grpc-js-xds client. */
describe('pilot: discovery and xDS push', () => {
  let db: TestDatabase;
  let galley: ServiceProcess;
  let pilot: ServiceProcess;
  let client: XdsClientProcess | undefined;
  const echo: { name: string; port: number; stop: () => Promise<void> }[] = [];
  const streams: AdsStream[] = [];
  const api = galleyClient(() => galley, ADMIN);
  const admin = (path: string) =>
    fetch(pilot.adminUrl + path, { headers: { authorization: `Bearer ${ADMIN}` } }).then(json);
  const env = () => ({ DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: ADMIN });

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    galley = await ServiceProcess.spawn('galley', env());
    await galley.waitFor('/readyz');
    pilot = await ServiceProcess.spawn('pilot', {
      ...env(),
      PILOT_GALLEY_ADDRESS: galley.grpcAddress,
      PILOT_DEBOUNCE: '50ms',
      PILOT_DISCONNECT_GRACE: '1s',
    });
    await pilot.waitFor('/readyz');
    for (const name of ['a', 'b', 'c']) echo.push({ name, ...(await startEchoServer(name)) });
  });
  after(async () => {
    client?.stop();
    for (const stream of streams) stream.close();
    await pilot?.stop();
    await galley?.stop();
    await Promise.all(echo.map((server) => server.stop()));
    await db?.drop();
  });

  it('routes a proxyless gRPC client to the WorkloadEntries of a ServiceEntry, and reports it SYNCED', async () => {
    assert.equal((await api.apply(mesh(echo[0].port, echo[1].port))).status, 200);
    client = new XdsClientProcess(pilot);
    const counts = await client.until((c) => servers(c) === 'a,b', 'calls to reach both servers');
    assert.equal(counts.a + counts.b, 12);

    const status = await admin('/v1/proxy-status');
    const proxy = status.proxies.find((p: any) => p.nodeId === CLIENT_NODE);
    assert.ok(proxy, JSON.stringify(status));
    assert.equal(proxy.namespace, 'default');
    assert.equal(proxy.serviceAccount, 'client');
    for (const type of ['LDS', 'RDS', 'CDS', 'EDS']) {
      assert.equal(proxy.xds[type].status, 'SYNCED', `${type}: ${JSON.stringify(proxy.xds[type])}`);
      assert.equal(proxy.xds[type].ackedVersion, proxy.xds[type].sentVersion);
    }
    assert.deepEqual(proxy.xds.LDS.subscribed, ['echo.default.svc.cluster.local:7070']);
    assert.deepEqual(proxy.xds.CDS.subscribed, ['outbound|7070||echo.default.svc.cluster.local']);
    assert.equal(status.galley.connected, true);

    const registry = await admin('/v1/registry');
    const service = registry.services.find((s: any) => s.host === 'echo.default.svc.cluster.local');
    assert.deepEqual(
      service.endpoints.map((e: any) => e.source),
      ['WorkloadEntry default/echo-a', 'WorkloadEntry default/echo-b'],
    );
    assert.deepEqual(Object.keys(service.subsets), ['v1', 'v2']);
  });

  it('moves every call to one subset with a 100/0 VirtualService split, and back', async () => {
    assert.equal((await api.apply(split(100))).status, 200);
    await client!.until((c) => servers(c) === 'a', 'all calls on subset v1');
    const status = await admin('/v1/proxy-status');
    const proxy = status.proxies.find((p: any) => p.nodeId === CLIENT_NODE);
    assert.deepEqual(proxy.xds.CDS.subscribed, ['outbound|7070|v1|echo.default.svc.cluster.local']);
    assert.equal((await api.apply(split(0))).status, 200);
    await client!.until((c) => servers(c) === 'b', 'all calls on subset v2');
    assert.equal((await api.call('DELETE', '/v1/resources/VirtualService/default/echo')).status, 200);
    await client!.until((c) => servers(c) === 'a,b', 'calls to both servers again');
  });

  it('stops calls to a server when its WorkloadEntry is deleted', async () => {
    assert.equal((await api.call('DELETE', '/v1/resources/WorkloadEntry/default/echo-a')).status, 200);
    await client!.until((c) => servers(c) === 'b', 'calls only to b');
  });

  it('adds a workload that registers over xDS, and drops it a grace period after its stream ends', async () => {
    const c = echo[2];
    const workload = new AdsStream(pilot.grpcAddress, {
      id: 'sidecar~127.0.0.1~echo-c.default~default.svc.cluster.local',
      metadata: {
        NAMESPACE: 'default',
        SERVICE_ACCOUNT: 'echo',
        INSTANCE_IPS: '127.0.0.1',
        LABELS: 'app=echo,version=v3',
        BOWLINE_SERVICE: 'echo',
        BOWLINE_PORTS: `7070:${c.port}`,
      },
    });
    streams.push(workload);
    workload.request({ type_url: TYPE.CDS });
    await workload.response(TYPE.CDS);
    await client!.until((counts) => servers(counts) === 'b,c', 'calls to b and the registered c');
    const registry = await admin('/v1/registry');
    const registered = registry.workloads.find((w: any) => w.nodeId.includes('echo-c'));
    assert.equal(registered.healthy, true);
    assert.deepEqual(registered.ports, { 7070: c.port });

    workload.close();
    await client!.until((counts) => servers(counts) === 'b', 'calls only to b after the grace period');
    const after = await admin('/v1/registry');
    assert.equal(after.workloads.find((w: any) => w.nodeId.includes('echo-c')).healthy, false);
  });

  it('records a NACK per type, keeps the accepted version, and counts it', async () => {
    const proxy = new AdsStream(pilot.grpcAddress, { id: 'sidecar~10.1.0.9~tester.default~default.svc.cluster.local' });
    streams.push(proxy);
    proxy.request({ type_url: TYPE.CDS });
    const first = await proxy.response(TYPE.CDS);
    assert.ok(first.resources.length >= 3, 'wildcard CDS lists the service and its subsets');
    proxy.request({ type_url: TYPE.CDS, version_info: first.version_info, response_nonce: first.nonce });

    // A change produces a new CDS version; the proxy rejects it.
    assert.equal(
      (
        await api.apply(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: other}
spec:
  hosts: [other.default.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.9.9.9}]
`)
      ).status,
      200,
    );
    const second = await proxy.response(TYPE.CDS, 1);
    assert.notEqual(second.version_info, first.version_info);
    proxy.request({
      type_url: TYPE.CDS,
      version_info: first.version_info,
      response_nonce: second.nonce,
      error_detail: { code: 3, message: 'cluster other: not today' },
    });
    const deadline = Date.now() + 5_000;
    let mine: any;
    for (;;) {
      const status = await admin('/v1/proxy-status');
      mine = status.proxies.find((p: any) => p.nodeId.includes('tester'));
      if (mine?.xds.CDS.status === 'NACK' || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(mine.xds.CDS.status, 'NACK');
    assert.equal(mine.xds.CDS.ackedVersion, first.version_info);
    assert.equal(mine.xds.CDS.error.message, 'cluster other: not today');
    assert.equal(mine.xds.LDS.status, 'NOT_SENT');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(proxy.count(TYPE.CDS), 2, 'a NACKed config is not re-sent');

    const metrics = await fetch(`${pilot.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } }).then(
      (r) => r.text(),
    );
    assert.match(metrics, /bowline_pilot_xds_rejects_total\{type="cds"\} 1/);
    assert.match(metrics, /bowline_pilot_xds_connected_proxies 2/); // the client and this one
    assert.match(metrics, /bowline_pilot_xds_pushes_total\{type="eds"\} \d+/);
    assert.match(metrics, /bowline_pilot_proxy_convergence_seconds_count\{type="lds"\} \d+/);
  });

  it('keeps serving the last config while Galley is down, and catches up when it returns', async () => {
    const galleyPort = galley.grpcAddress.split(':')[1];
    await galley.stop();
    await client!.until((c) => servers(c) === 'b', 'calls still served from the last config');
    const status = await admin('/v1/proxy-status');
    assert.equal(status.galley.connected, false);
    // Back on the same gRPC port, the address Pilot keeps dialing.
    galley = await ServiceProcess.spawn('galley', { ...env(), GALLEY_GRPC_PORT: galleyPort });
    await galley.waitFor('/readyz');
    assert.equal(
      (
        await api.apply(
          mesh(echo[0].port, echo[1].port)
            .split('---')
            .filter((doc) => doc.includes('echo-a'))
            .join('---'),
        )
      ).status,
      200,
    );
    await client!.until((c) => servers(c) === 'a,b', 'the re-added WorkloadEntry after Galley returned', 30_000);
  });

  it('shuts down cleanly with xDS streams open', async () => {
    assert.deepEqual(await pilot.stop(), { code: 0, signal: null });
    assert.doesNotMatch(pilot.logs, /grace period over/);
  });
});
