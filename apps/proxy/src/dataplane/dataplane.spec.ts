import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as connectHttp2, createServer as createHttp2Server, type Http2Server } from 'node:http2';
import { connect as connectNet } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '#libs/logging';
import { until } from '#libs/testing';
import type { Cluster, Endpoint, MeshConfig, MeshConfigSource, Route } from '../mesh/model';
import { DEFAULT_LIMITS, EMPTY_MESH_CONFIG } from '../mesh/model';
import type { RequestRecord } from '../telemetry/types';
import type { AuthorizationRequest, AuthorizationResult } from './authorization';
import { InboundListener } from './inbound';
import { OutboundListener } from './outbound';
import type { Balancer, OutboundRouting } from './routing';
import { StaticIdentity, TestMeshCa } from '../testing/test-pki';
import { TlsMaterial } from './tls-material';
import { UpstreamPools } from './upstream-pools';

const logger = createLogger('proxy-test', (process.env.PROXY_TEST_LOG ?? 'fatal') as 'fatal');
const HOST = 'server.default.svc.cluster.local';

class MutableMesh implements MeshConfigSource {
  constructor(public config: MeshConfig) {}
  current(): MeshConfig | undefined {
    return this.config;
  }
  onChange(): () => void {
    return () => undefined;
  }
  status() {
    return { source: 'bootstrap' as const, connected: false };
  }
}

/** Routing over the hand-written config: one virtual host per listener, first matching prefix. */
const routing: OutboundRouting = {
  resolve(config, authority) {
    const host = authority.split(':')[0];
    for (const listener of config.listeners.values()) {
      if (listener.host === host || listener.host.startsWith(`${host}.`)) {
        const vh = config.routes.get(listener.routeConfigName)!.virtualHosts[0];
        return { listener, virtualHost: vh };
      }
    }
    return undefined;
  },
  selectRoute: (vh, req) => vh.routes.find((r) => req.path.startsWith(r.match.prefix ?? '/')),
  pickCluster: (route) => route.clusters[0].cluster,
  rewritePath: (_route, path) => path,
};

/** Round robin with no outlier detection. */
class SimpleBalancer implements Balancer {
  private next = 0;
  private readonly inFlight = new Map<string, number>();
  pick(config: MeshConfig, cluster: string, exclude?: Endpoint): Endpoint | undefined {
    const all = config.endpoints.get(cluster) ?? [];
    const candidates = all.length > 1 && exclude ? all.filter((e) => e !== exclude) : all;
    return candidates[this.next++ % Math.max(candidates.length, 1)];
  }
  begin(cluster: string): void {
    this.inFlight.set(cluster, (this.inFlight.get(cluster) ?? 0) + 1);
  }
  end(cluster: string): void {
    this.inFlight.set(cluster, (this.inFlight.get(cluster) ?? 1) - 1);
  }
  active(cluster: string): number {
    return this.inFlight.get(cluster) ?? 0;
  }
}

function meshConfig(
  endpoints: Endpoint[],
  route: Partial<Route> = {},
  mode: 'STRICT' | 'PERMISSIVE' = 'STRICT',
  limits: Partial<Cluster['limits']> = {},
): MeshConfig {
  const clusterName = `outbound|8080||${HOST}`;
  const cluster: Cluster = {
    name: clusterName,
    lbPolicy: 'ROUND_ROBIN',
    connectTimeoutMs: 1000,
    limits: { ...DEFAULT_LIMITS, ...limits },
    tls: { sni: `outbound_.8080_._.${HOST}`, expectedSans: ['spiffe://cluster.local/ns/default/sa/server'] },
    http2: false,
  };
  return {
    ...EMPTY_MESH_CONFIG,
    listeners: new Map([[`${HOST}:8080`, { name: `${HOST}:8080`, host: HOST, port: 8080, routeConfigName: 'r' }]]),
    routes: new Map([
      [
        'r',
        {
          name: 'r',
          virtualHosts: [
            {
              name: 'server',
              domains: ['*'],
              routes: [
                {
                  name: 'default',
                  match: { prefix: '/', caseSensitive: true, headers: [] },
                  clusters: [{ cluster: clusterName, weight: 100 }],
                  timeoutMs: 0,
                  ...route,
                },
              ],
            },
          ],
        },
      ],
    ]),
    clusters: new Map([[clusterName, cluster]]),
    endpoints: new Map([[clusterName, endpoints]]),
    inbound: { defaultMode: mode, portModes: new Map() },
  };
}

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

function call(port: number, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

function listen(server: Server | Http2Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

describe('data plane: two sidecars over mTLS', () => {
  const ca = new TestMeshCa();
  const clientIdentity = new StaticIdentity(ca.issue('default', 'client'));
  const serverIdentity = new StaticIdentity(ca.issue('default', 'server'));
  const records: RequestRecord[] = [];
  const reporter = { report: (r: RequestRecord) => records.push(r) };
  const asked: AuthorizationRequest[] = [];
  const authorizer = {
    authorize: (request: AuthorizationRequest): AuthorizationResult | Promise<AuthorizationResult> => {
      asked.push(request);
      if (request.path === '/authz-throws') throw new Error('boom');
      if (request.path === '/authz-rejects') return Promise.reject(new Error('boom'));
      if (request.path === '/authz-async') return Promise.resolve({ allowed: true });
      return request.path.startsWith('/forbidden') ? { allowed: false, status: 403 } : { allowed: true };
    },
  };
  let app: Server;
  let grpcApp: Http2Server;
  let failing: Server;
  let outbound: OutboundListener;
  let inbound: InboundListener;
  let grpcInbound: InboundListener;
  let outboundPort: number;
  let inboundPort: number;
  let grpcInboundPort: number;
  let failingPort: number;
  const clientMesh = new MutableMesh(EMPTY_MESH_CONFIG);
  const serverMesh = new MutableMesh(meshConfig([]));
  let serverTls: TlsMaterial;
  let clientPools: UpstreamPools;

  before(async () => {
    app = createServer((req, res) => {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
      });
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ path: req.url, headers: req.headers, size, sha256: hash.digest('hex') }));
      });
    });
    app.on('upgrade', (req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    const appPort = await listen(app);
    grpcApp = createHttp2Server();
    grpcApp.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
      stream.pipe(stream);
    });
    const grpcAppPort = await listen(grpcApp);
    failing = createServer((_req, res) => res.writeHead(503).end('down'));
    failingPort = await listen(failing);

    const clientTls = new TlsMaterial(clientIdentity);
    clientPools = new UpstreamPools(clientTls);
    const local = (name: string) => ({ workload: name, namespace: 'default', spiffeId: () => undefined });
    outbound = new OutboundListener({
      mesh: clientMesh,
      routing,
      balancer: new SimpleBalancer(),
      pools: clientPools,
      reporter,
      local: local('client'),
      logger,
    });
    outboundPort = await outbound.listen(0, '127.0.0.1');
    serverTls = new TlsMaterial(serverIdentity);
    const inboundDeps = {
      mesh: serverMesh,
      tls: serverTls,
      pools: new UpstreamPools(serverTls),
      reporter,
      local: local('server'),
      logger,
      appHost: '127.0.0.1',
      authorizer,
    };
    inbound = new InboundListener({ ...inboundDeps, servicePorts: new Map([[8080, appPort]]) });
    inboundPort = await inbound.listen(0, '127.0.0.1');
    grpcInbound = new InboundListener({ ...inboundDeps, servicePorts: new Map([[8080, grpcAppPort]]) });
    grpcInboundPort = await grpcInbound.listen(0, '127.0.0.1');
    clientMesh.config = meshConfig([{ address: '127.0.0.1', port: inboundPort, weight: 1, mtls: true }]);
  });

  after(async () => {
    await Promise.all([outbound.close(), inbound.close(), grpcInbound.close()]);
    app.close();
    grpcApp.close();
    failing.close();
  });

  it('forwards over mTLS and the app sees an Envoy-format XFCC naming the caller', async () => {
    const reply = await call(outboundPort, '/hello?x=1', { host: 'server:8080', 'x-forwarded-client-cert': 'forged' });
    assert.equal(reply.status, 200);
    const seen = JSON.parse(reply.body) as { path: string; headers: Record<string, string> };
    assert.equal(seen.path, '/hello?x=1');
    assert.match(
      seen.headers['x-forwarded-client-cert'],
      /^By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/server;Hash=[0-9a-f]{64};URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/client$/,
    );
    assert.match(seen.headers['x-request-id'], /^[0-9a-f-]{36}$/);
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
  });

  it('asks the authorizer with the caller principal and IP address; a denial never reaches the app', async () => {
    asked.length = 0;
    const allowed = await call(outboundPort, '/allowed', { host: 'server:8080' });
    assert.equal(allowed.status, 200);
    const denied = await call(outboundPort, '/forbidden', { host: 'server:8080' });
    assert.equal(denied.status, 403);
    assert.equal(denied.body, 'RBAC: access denied\n');
    assert.deepEqual(
      asked.map((r) => [r.path, r.sourcePrincipal, r.sourceAddress, r.destinationPrincipal]),
      ['/allowed', '/forbidden'].map((path) => [
        path,
        'spiffe://cluster.local/ns/default/sa/client',
        '127.0.0.1',
        'spiffe://cluster.local/ns/default/sa/server',
      ]),
    );
  });

  it('takes an asynchronous verdict too; an authorizer that throws or rejects denies (fail closed)', async () => {
    assert.equal((await call(outboundPort, '/authz-async', { host: 'server:8080' })).status, 200);
    for (const path of ['/authz-throws', '/authz-rejects']) {
      const reply = await call(outboundPort, path, { host: 'server:8080' });
      assert.deepEqual([path, reply.status, reply.body], [path, 403, 'RBAC: access denied\n']);
    }
  });

  it('keeps the caller x-request-id and trace headers, and accepts absolute-form proxy requests', async () => {
    const reply = await call(outboundPort, `http://${HOST}:8080/abs`, {
      host: `${HOST}:8080`,
      'x-request-id': 'abc-123',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
    });
    const seen = JSON.parse(reply.body) as { path: string; headers: Record<string, string> };
    assert.equal(seen.path, '/abs');
    assert.equal(seen.headers['x-request-id'], 'abc-123');
    assert.equal(seen.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.equal(seen.headers['x-b3-traceid'], '80f198ee56343ba864fe8b2a57d3eff7');
  });

  it('answers 404 (NR) for an unknown host', async () => {
    const reply = await call(outboundPort, '/', { host: 'nowhere:1' });
    assert.equal(reply.status, 404);
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(records.some((r) => r.reporter === 'source' && r.flags.includes('NR')));
  });

  it('streams a 50 MB upload through both sidecars intact', async () => {
    const body = randomBytes(50 * 1024 * 1024);
    const reply = await call(
      outboundPort,
      '/upload',
      { host: 'server:8080', 'content-type': 'application/octet-stream' },
      body,
    );
    const seen = JSON.parse(reply.body) as { size: number; sha256: string };
    assert.equal(seen.size, body.length);
    assert.equal(seen.sha256, createHash('sha256').update(body).digest('hex'));
  });

  it('refuses Content-Length together with Transfer-Encoding (request smuggling)', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connectNet(outboundPort, '127.0.0.1', () =>
        socket.write(
          'POST / HTTP/1.1\r\nHost: server:8080\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: server:8080\r\n\r\n',
        ),
      );
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('close', () => resolve(text));
    });
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.doesNotMatch(answer, /smuggled/);
  });

  it('passes an HTTP/2 stream with trailers both ways (gRPC shape)', async () => {
    clientMesh.config = meshConfig([{ address: '127.0.0.1', port: grpcInboundPort, weight: 1, mtls: true }]);
    try {
      const session = connectHttp2(`http://127.0.0.1:${outboundPort}`);
      const stream = session.request({
        ':method': 'POST',
        ':path': '/echo.Echo/Chat',
        ':authority': 'server:8080',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const received: Buffer[] = [];
      let trailers: Record<string, unknown> = {};
      stream.on('data', (c: Buffer) => received.push(c));
      stream.on('trailers', (t) => (trailers = t));
      stream.write('ping-1');
      await new Promise((resolve) => setTimeout(resolve, 50));
      stream.end('ping-2');
      await new Promise((resolve) => stream.on('close', resolve));
      session.close();
      assert.equal(Buffer.concat(received).toString(), 'ping-1ping-2');
      assert.equal(trailers['grpc-status'], '0');
    } finally {
      clientMesh.config = meshConfig([{ address: '127.0.0.1', port: inboundPort, weight: 1, mtls: true }]);
    }
  });

  it('upgrades to a WebSocket-style tunnel through both sidecars', async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: outboundPort,
        path: '/ws',
        headers: { host: 'server:8080', connection: 'upgrade', upgrade: 'echo' },
      });
      req.on('upgrade', (_res, socket) => {
        socket.write('hello tunnel');
        socket.once('data', (c: Buffer) => {
          resolve(c.toString());
          socket.destroy();
        });
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(echoed, 'hello tunnel');
  });

  it('STRICT: plaintext and certificate-less TLS are refused at the inbound port', async () => {
    await assert.rejects(call(inboundPort, '/', { host: 'server:8080' }));
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = connectTls({
          host: '127.0.0.1',
          port: inboundPort,
          ca: ca.rootPem,
          servername: 'x',
          rejectUnauthorized: false,
        });
        socket.on('secureConnect', () => socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
        socket.on('data', resolve);
        socket.on('error', reject);
        socket.on('close', () => reject(new Error('closed')));
      }),
    );
  });

  it('PERMISSIVE: plaintext is accepted and gets no XFCC', async () => {
    serverMesh.config = meshConfig([], {}, 'PERMISSIVE');
    try {
      const reply = await call(inboundPort, '/plain', { host: 'server:8080', 'x-forwarded-client-cert': 'forged' });
      assert.equal(reply.status, 200);
      const seen = JSON.parse(reply.body) as { headers: Record<string, string> };
      assert.equal(seen.headers['x-forwarded-client-cert'], undefined);
      assert.equal(seen.headers['x-forwarded-proto'], 'http');
    } finally {
      serverMesh.config = meshConfig([]);
    }
  });

  it('retries a 503 on another endpoint when the route says so', async () => {
    clientMesh.config = meshConfig(
      [
        { address: '127.0.0.1', port: failingPort, weight: 1, mtls: false },
        { address: '127.0.0.1', port: inboundPort, weight: 1, mtls: true },
      ],
      { retry: { numRetries: 2, perTryTimeoutMs: 0, retryOn: new Set(['5xx']) } },
    );
    try {
      for (let i = 0; i < 4; i++) assert.equal((await call(outboundPort, '/r', { host: 'server:8080' })).status, 200);
    } finally {
      clientMesh.config = meshConfig([{ address: '127.0.0.1', port: inboundPort, weight: 1, mtls: true }]);
    }
  });

  it('injects faults from the route: an abort (FI) and a delay (DI)', async () => {
    const endpoints = [{ address: '127.0.0.1', port: inboundPort, weight: 1, mtls: true }];
    clientMesh.config = meshConfig(endpoints, { fault: { abort: { httpStatus: 418, percent: 100 } } });
    try {
      assert.equal((await call(outboundPort, '/f', { host: 'server:8080' })).status, 418);
      clientMesh.config = meshConfig(endpoints, { fault: { delay: { fixedDelayMs: 150, percent: 100 } } });
      const started = Date.now();
      assert.equal((await call(outboundPort, '/f', { host: 'server:8080' })).status, 200);
      assert.ok(Date.now() - started >= 140, 'the delay was applied');
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(records.some((r) => r.flags.includes('FI')) && records.some((r) => r.flags.includes('DI')));
    } finally {
      clientMesh.config = meshConfig(endpoints);
    }
  });

  it(
    'answers 503 (UO) once requests waiting for a connection reach max_pending_requests',
    { timeout: 20_000 },
    async () => {
      const held: ServerResponse[] = [];
      const busy = createServer((_req, res) => held.push(res));
      const busyPort = await listen(busy);
      const endpoint = { address: '127.0.0.1', port: busyPort, weight: 1, mtls: false };
      clientMesh.config = meshConfig([endpoint], {}, 'STRICT', { maxConnections: 1, maxPendingRequests: 1 });
      const target = { address: '127.0.0.1', port: busyPort, maxConnections: 1 };
      const headers = { host: 'server:8080' };
      try {
        const first = call(outboundPort, '/first', headers);
        await until('the first request at the app', async () => (held.length === 1 ? true : undefined));
        const second = call(outboundPort, '/second', headers);
        await until('the second request waiting', async () => (clientPools.queued(target) === 1 ? true : undefined));

        const third = await call(outboundPort, '/third', headers);
        assert.equal(third.status, 503);
        assert.equal(third.body, 'upstream overflow: the connection pool is at max_pending_requests\n');
        held.shift()!.end('one');
        assert.equal((await first).body, 'one');
        await until('the second request at the app', async () => (held.length === 1 ? true : undefined));
        held.shift()!.end('two');
        assert.equal((await second).body, 'two', 'the waiting request got the connection');
        await new Promise((resolve) => setImmediate(resolve));
        assert.ok(records.some((r) => r.path === '/third' && r.flags.includes('UO')));
      } finally {
        clientMesh.config = meshConfig([{ address: '127.0.0.1', port: inboundPort, weight: 1, mtls: true }]);
        busy.closeAllConnections();
        busy.close();
      }
    },
  );

  it('answers 504 (UT) when the upstream is slower than the route timeout', async () => {
    const slow = createServer((_req, res) => setTimeout(() => res.end('late'), 1_000));
    const slowPort = await listen(slow);
    clientMesh.config = meshConfig([{ address: '127.0.0.1', port: slowPort, weight: 1, mtls: false }], {
      timeoutMs: 100,
    });
    try {
      assert.equal((await call(outboundPort, '/slow', { host: 'server:8080' })).status, 504);
    } finally {
      clientMesh.config = meshConfig([{ address: '127.0.0.1', port: inboundPort, weight: 1, mtls: true }]);
      slow.closeAllConnections();
      slow.close();
    }
  });

  it('refuses a server whose certificate is revoked, and an unexpected server identity', async () => {
    const server = serverIdentity.current()!;
    clientIdentity.revoke(server.certificate.serial);
    try {
      const reply = await call(outboundPort, '/', { host: 'server:8080' });
      assert.equal(reply.status, 503);
    } finally {
      serverIdentity.set(ca.issue('default', 'server'));
    }
    assert.equal((await call(outboundPort, '/', { host: 'server:8080' })).status, 200);
    serverIdentity.set(ca.issue('default', 'impostor'));
    clientIdentity.set(ca.issue('default', 'client')); // a renewal: fresh upstream connections
    try {
      assert.equal((await call(outboundPort, '/', { host: 'server:8080' })).status, 503);
    } finally {
      serverIdentity.set(ca.issue('default', 'server'));
    }
  });
});
