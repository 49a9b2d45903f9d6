import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect as connectNet } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { credentials, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import {
  adminCall,
  createTestDatabase,
  fetchTrustBundle,
  freePort,
  newCsr,
  newKek,
  ServiceProcess,
  type TestDatabase,
  useCitadelTls,
} from '#libs/testing';
import { EchoClient, startEchoServer } from './fixtures/echo';
import { curl, echoApp, eventually, listen } from './proxy-fixtures';
import { galleyClient } from './galley-fixtures';

const run = promisify(execFile);
const ADMIN = 'proxy-e2e-admin-token-0123456789abcdefgh';
const PROXY_ADMIN = 'proxy-e2e-sidecar-admin-token-0123456789';
const SPIFFE = (sa: string) => `spiffe://cluster.local/ns/default/sa/${sa}`;
const proxyAuth = { authorization: `Bearer ${PROXY_ADMIN}` };

/** One sidecar process and its ports. */
interface Sidecar {
  readonly process: ServiceProcess;
  readonly outbound: number;
  readonly inbound: number;
  readonly admin: string;
}

/** Runs `openssl s_client` against a port; resolves with its output and exit code. */
function sClient(port: number, args: string[], input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-quiet',
      '-verify_return_error',
      ...args,
    ]);
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill(), 10_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('the sidecar proxy between two apps, with Citadel, Galley and Pilot', () => {
  let db: TestDatabase;
  let citadel: ServiceProcess;
  let galley: ServiceProcess;
  let pilot: ServiceProcess;
  let rootsFile: string;
  const apps: Server[] = [];
  const sidecars: Sidecar[] = [];
  let echo: { port: number; stop: () => Promise<void> };
  let client: Sidecar;
  let server: Sidecar;
  let serverAppPort: number;
  const config = () => galleyClient(() => galley, ADMIN);

  async function joinToken(serviceAccount: string, maxUses = 5): Promise<string> {
    const minted = await adminCall(citadel.adminUrl, ADMIN, 'POST', '/v1/join-tokens', {
      namespace: 'default',
      serviceAccount,
      maxUses,
    });
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    return minted.body.token as string;
  }

  async function startSidecar(params: {
    serviceAccount: string;
    service?: string;
    ports?: string;
    labels?: string;
  }): Promise<Sidecar> {
    const inbound = await freePort();
    const proxy = await ServiceProcess.spawn('proxy', {
      PROXY_INBOUND_PORT: String(inbound),
      PROXY_ADMIN_TOKEN: PROXY_ADMIN,
      BOWLINE_LOG_LEVEL: process.env.PROXY_E2E_LOGS ? 'debug' : 'info',
      PROXY_CA_ROOTS_FILE: rootsFile,
      PROXY_CITADEL_ADDRESS: citadel.grpcAddress,
      PROXY_PILOT_ADDRESS: pilot.grpcAddress,
      PROXY_SERVICE_ACCOUNT: params.serviceAccount,
      BOWLINE_JOIN_TOKEN: await joinToken(params.serviceAccount),
      PROXY_CERT_TTL: '1h',
      PROXY_LABELS: params.labels ?? `app=${params.service ?? params.serviceAccount}`,
      ...(params.service ? { PROXY_SERVICE: params.service, PROXY_SERVICE_PORTS: params.ports ?? '' } : {}),
    });
    const sidecar = {
      process: proxy,
      outbound: Number(proxy.grpcAddress.split(':').pop()),
      inbound,
      admin: proxy.adminUrl,
    };
    sidecars.push(sidecar);
    await eventually(async () => (await fetch(`${proxy.adminUrl}/ready`).catch(() => undefined))?.status === 200, {
      timeoutMs: 30_000,
      what: `${params.serviceAccount} sidecar ready`,
    });
    return sidecar;
  }

  /** A key (openssl) and a certificate Citadel issued for it through CreateCertificate with a join token. */
  async function testerCertificate(): Promise<{ certFile: string; keyFile: string; serial: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'bowline-tester-'));
    const keyFile = join(dir, 'key.pem');
    const csr = await newCsr({ keyFile, csrFile: join(dir, 'csr.pem'), san: `URI:${SPIFFE('tester')}` });
    const token = await joinToken('tester');
    const out = JSON.parse(
      await citadel.grpcurl(
        '-H',
        `authorization: Bearer ${token}`,
        '-d',
        JSON.stringify({ csr, validity_duration: 3600 }),
        'istio.v1.auth.IstioCertificateService/CreateCertificate',
      ),
    );
    const chain: string[] = out.cert_chain ?? out.certChain;
    const certFile = join(dir, 'cert.pem');
    writeFileSync(certFile, chain.slice(0, -1).join(''));
    return { certFile, keyFile, serial: new X509Certificate(chain[0]).serialNumber };
  }

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    const base = { DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: ADMIN, BOWLINE_SHUTDOWN_GRACE: '2s' };
    citadel = await ServiceProcess.spawn('citadel', { ...base, BOWLINE_CA_KEK: newKek() });
    galley = await ServiceProcess.spawn('galley', base);
    await Promise.all([citadel.waitFor('/readyz'), galley.waitFor('/readyz')]);
    pilot = await ServiceProcess.spawn('pilot', {
      ...base,
      PILOT_GALLEY_ADDRESS: galley.grpcAddress,
      PILOT_DEBOUNCE: '20ms',
    });
    await pilot.waitFor('/readyz');
    rootsFile = await fetchTrustBundle(citadel, ADMIN);
    await useCitadelTls(citadel, ADMIN);

    const app = echoApp('server');
    apps.push(app);
    serverAppPort = await listen(app);
    echo = await startEchoServer('grpc-echo');
    [server, client] = await Promise.all([
      startSidecar({
        serviceAccount: 'server',
        service: 'server',
        ports: `8080:${serverAppPort}`,
        labels: 'app=server,version=v1',
      }),
      startSidecar({ serviceAccount: 'client' }),
      startSidecar({ serviceAccount: 'grpc', service: 'grpc-echo', ports: `9090:${echo.port}` }),
    ]);
    // The client learns the server's endpoint from Pilot once the server's sidecar registered.
    await eventually(async () => (await curl(client.outbound, 'server:8080', '/')).status === 200, {
      timeoutMs: 20_000,
      what: 'the client sidecar routes to the server',
    });
  });

  after(async () => {
    if (process.env.PROXY_E2E_LOGS) {
      for (const s of [...sidecars.map((c) => c.process), pilot]) process.stderr.write(`\n===== ${s?.app}\n${s?.logs}`);
    }
    await Promise.all(sidecars.map((s) => s.process.stop()));
    for (const app of apps) app.close();
    await echo?.stop();
    await pilot?.stop();
    await galley?.stop();
    await citadel?.stop();
    await db?.drop();
  });

  it('curl through the outbound listener reaches the other app, which sees an XFCC naming the caller', async () => {
    const reply = await curl(client.outbound, 'server.default.svc.cluster.local:8080', '/hello?a=1');
    assert.equal(reply.status, 200, reply.body);
    const seen = JSON.parse(reply.body);
    assert.equal(seen.path, '/hello?a=1');
    const xfcc: string = seen.headers['x-forwarded-client-cert'];
    assert.match(xfcc, new RegExp(`^By=${SPIFFE('server')};Hash=[0-9a-f]{64};URI=${SPIFFE('client')}$`));
    assert.match(seen.headers['x-request-id'], /^[0-9a-f-]{36}$/);
    // The Host forms an app may use all land on the same service.
    for (const host of ['server', 'server:8080', 'server.default', 'server.default.svc.cluster.local']) {
      assert.equal((await curl(client.outbound, host, '/')).status, 200, host);
    }
    const proxied = await run('curl', [
      '-sS',
      '-x',
      `http://127.0.0.1:${client.outbound}`,
      'http://server:8080/via-proxy',
    ]);
    assert.equal(JSON.parse(proxied.stdout).path, '/via-proxy');
  });

  it('answers an unknown host with 404 and flags NR in the access log', async () => {
    const reply = await curl(client.outbound, 'nowhere.example:80', '/');
    assert.equal(reply.status, 404);
    await eventually(() => /"response_flags":"NR"/.test(client.process.logs), { what: 'an NR access-log line' });
  });

  it('refuses Content-Length with Transfer-Encoding: chunked (request smuggling)', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connectNet(client.outbound, '127.0.0.1', () =>
        socket.write(
          'POST / HTTP/1.1\r\nHost: server:8080\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: server:8080\r\n\r\n',
        ),
      );
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('close', () => resolve(text));
    });
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.doesNotMatch(answer, /smuggled/);
  });

  it('passes a 50 MB upload through both sidecars intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bowline-upload-'));
    const file = join(dir, 'body.bin');
    const body = randomBytes(50 * 1024 * 1024);
    writeFileSync(file, body);
    const reply = await curl(client.outbound, 'server:8080', '/upload', [
      '--data-binary',
      `@${file}`,
      '-H',
      'content-type: application/octet-stream',
    ]);
    const seen = JSON.parse(reply.body);
    assert.equal(seen.size, body.length);
    assert.equal(seen.sha256, createHash('sha256').update(body).digest('hex'));
  });

  it('carries a gRPC bidirectional stream through both sidecars', async () => {
    const stub = new EchoClient(`127.0.0.1:${client.outbound}`, credentials.createInsecure(), {
      'grpc.default_authority': 'grpc-echo:9090',
    });
    try {
      const call = (
        stub as unknown as { Chat: (m: Metadata) => ClientDuplexStream<{ text: string }, { text: string }> }
      ).Chat(new Metadata());
      const replies: string[] = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on('data', (m: { text: string }) => {
          replies.push(m.text);
          if (replies.length < 3) call.write({ text: `ping ${replies.length + 1}` });
          else call.end();
        });
        call.on('end', resolve);
        call.on('error', reject);
      });
      call.write({ text: 'ping 1' });
      await done;
      assert.deepEqual(replies, ['grpc-echo: ping 1', 'grpc-echo: ping 2', 'grpc-echo: ping 3']);
    } finally {
      stub.close();
    }
  });

  it('STRICT refuses plaintext and certificate-less TLS, accepts a Citadel certificate; PERMISSIVE accepts plaintext', async () => {
    const strict = await config().apply(
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: server, namespace: default}\nspec:\n  selector: {matchLabels: {app: server}}\n  mtls: {mode: STRICT}\n',
    );
    assert.equal(strict.status, 200, await strict.text());
    // A new connection each time (curl): a kept-alive one would have been accepted before the change.
    const plaintext = async () => (await curl(server.inbound, 'server:8080', '/plain')).status;
    await eventually(async () => (await plaintext()) === 0, { what: 'STRICT reaches the server sidecar' });

    const bare = await sClient(server.inbound, ['-CAfile', rootsFile], 'GET / HTTP/1.1\r\nHost: server\r\n\r\n');
    assert.doesNotMatch(bare.output, /HTTP\/1\.1 200/);

    const { certFile, keyFile } = await testerCertificate();
    const mutual = await sClient(
      server.inbound,
      [
        '-CAfile',
        rootsFile,
        '-cert',
        certFile,
        '-cert_chain',
        certFile,
        '-key',
        keyFile,
        '-servername',
        'outbound_.8080_._.server.default.svc.cluster.local',
      ],
      'GET /strict HTTP/1.1\r\nHost: server:8080\r\nConnection: close\r\n\r\n',
    );
    assert.match(mutual.output, /HTTP\/1\.1 200/);
    assert.match(mutual.output, new RegExp(`URI=${SPIFFE('tester')}`));

    const permissive = await config().apply(
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: server, namespace: default}\nspec:\n  selector: {matchLabels: {app: server}}\n  mtls: {mode: PERMISSIVE}\n',
    );
    assert.equal(permissive.status, 200);
    await eventually(async () => (await plaintext()) === 200, { what: 'PERMISSIVE reaches the server sidecar' });
  });

  it('exposes Istio metrics that promtool accepts, /config_dump and /certs without the key', async () => {
    assert.equal((await fetch(`${client.admin}/stats/prometheus`)).status, 401);
    const text = await (await fetch(`${client.admin}/stats/prometheus`, { headers: proxyAuth })).text();
    assert.match(
      text,
      /istio_requests_total\{[^}]*reporter="source"[^}]*destination_service="server\.default\.svc\.cluster\.local"/,
    );
    const serverText = await (await fetch(`${server.admin}/stats/prometheus`, { headers: proxyAuth })).text();
    assert.match(
      serverText,
      /istio_requests_total\{[^}]*reporter="destination"[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/client"/,
    );
    assert.match(serverText, /connection_security_policy="mutual_tls"/);
    const promtool = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('promtool', ['check', 'metrics']);
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      child.on('close', (code) => resolve({ code, output }));
      child.stdin.end(text);
    });
    // Exit 3 is promtool's lint ("use base unit seconds"), which Istio's own metric names trip.
    assert.ok(promtool.code === 0 || promtool.code === 3, promtool.output);
    assert.doesNotMatch(promtool.output.replace(/.*base unit "seconds".*\n?/g, ''), /error|\S/i);
    const dump = await (await fetch(`${client.admin}/config_dump`, { headers: proxyAuth })).json();
    assert.ok(JSON.stringify(dump).includes('outbound|8080||server.default.svc.cluster.local'));
    const certs = await (await fetch(`${client.admin}/certs`, { headers: proxyAuth })).text();
    assert.match(certs, /spiffe:\/\/cluster\.local\/ns\/default\/sa\/client/);
    assert.doesNotMatch(certs, /PRIVATE KEY/);
  });

  it('keeps serving with zero failed requests through forced rotations and a root rotation', async () => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const load = async () => {
      while (!stop) {
        const reply = await curl(client.outbound, 'server:8080', '/steady').catch((e: Error) => ({
          status: 0,
          body: e.message,
        }));
        if (reply.status === 200) ok++;
        else failures.push(`${reply.status} ${reply.body.slice(0, 200)}`);
      }
    };
    const loaders = [load(), load(), load(), load()];
    const before = await (await fetch(`${server.admin}/certs`, { headers: proxyAuth })).text();
    for (const sidecar of [server, client]) {
      const rotated = await fetch(`${sidecar.admin}/rotate`, { method: 'POST', headers: proxyAuth });
      assert.ok(rotated.ok, `rotate: ${rotated.status}`);
    }
    const rotateRoot = await adminCall(citadel.adminUrl, ADMIN, 'POST', '/v1/ca/root/rotate', {
      distributionSeconds: 1,
    });
    assert.equal(rotateRoot.status, 202, JSON.stringify(rotateRoot.body));
    // Citadel signs with the new root after the distribution period; rotate both sides onto it.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    for (const sidecar of [server, client]) {
      await fetch(`${sidecar.admin}/rotate`, { method: 'POST', headers: proxyAuth });
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stop = true;
    await Promise.all(loaders);
    const afterCerts = await (await fetch(`${server.admin}/certs`, { headers: proxyAuth })).text();
    assert.notEqual(afterCerts, before);
    // Both roots are in the bundle now; later openssl/grpcurl calls and new sidecars trust it.
    rootsFile = await useCitadelTls(citadel, ADMIN);
    assert.deepEqual(failures, []);
    assert.ok(ok > 10, `only ${ok} requests completed`);
  });

  it('a retry policy hides a failing endpoint and outlier detection ejects it', async () => {
    const failing = createServer((_req, res) => res.writeHead(503).end('broken'));
    apps.push(failing);
    const failingPort = await listen(failing);
    const broken = await startSidecar({
      serviceAccount: 'server',
      service: 'server',
      ports: `8080:${failingPort}`,
      labels: 'app=server,version=v2',
    });
    const applied = await config().apply(
      [
        'apiVersion: networking.istio.io/v1',
        'kind: VirtualService',
        'metadata: {name: server, namespace: default}',
        'spec:',
        '  hosts: [server]',
        '  http:',
        '  - route: [{destination: {host: server}}]',
        '    retries: {attempts: 3, retryOn: 5xx}',
        '---',
        'apiVersion: networking.istio.io/v1',
        'kind: DestinationRule',
        'metadata: {name: server, namespace: default}',
        'spec:',
        '  host: server',
        '  trafficPolicy:',
        '    loadBalancer: {simple: ROUND_ROBIN}',
        '    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}',
        '',
      ].join('\n'),
    );
    assert.equal(applied.status, 200, await applied.text());
    const balancing = async () => {
      const dump = (await (await fetch(`${client.admin}/config_dump`, { headers: proxyAuth })).json()) as {
        bowline?: { extra?: { loadBalancing?: unknown } };
      };
      return JSON.stringify(dump.bowline?.extra?.loadBalancing ?? dump);
    };
    await eventually(
      async () => {
        const text = await balancing();
        return text.includes(`"port":${broken.inbound}`) && text.includes('"lbPolicy":"ROUND_ROBIN"');
      },
      { timeoutMs: 20_000, what: 'the client sees the failing endpoint and the DestinationRule' },
    );
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await curl(client.outbound, 'server:8080', `/r${i}`)).status);
    assert.deepEqual(statuses, Array(20).fill(200));
    const after = JSON.parse(await balancing()) as {
      cluster: string;
      endpoints: { port: number; ejected: boolean }[];
    }[];
    const cluster = after.find((c) => c.cluster === 'outbound|8080||server.default.svc.cluster.local');
    assert.equal(cluster?.endpoints.find((e) => e.port === broken.inbound)?.ejected, true, JSON.stringify(cluster));
  });

  it('refuses a revoked client certificate at once, and a revoked sidecar gets a new one', async () => {
    const revoke = (serial: string) =>
      adminCall(citadel.adminUrl, ADMIN, 'POST', `/v1/certificates/${serial}/revoke`, { reason: 'keyCompromise' });
    // A certificate that stays revoked: the openssl tester's.
    const tester = await testerCertificate();
    const request = 'GET /revoked HTTP/1.1\r\nHost: server:8080\r\nConnection: close\r\n\r\n';
    const args = [
      '-CAfile',
      rootsFile,
      '-cert',
      tester.certFile,
      '-cert_chain',
      tester.certFile,
      '-key',
      tester.keyFile,
    ];
    assert.match((await sClient(server.inbound, args, request)).output, /HTTP\/1\.1 200/);
    assert.equal((await revoke(tester.serial)).status, 201);
    const started = Date.now();
    await eventually(async () => !/HTTP\/1\.1 200/.test((await sClient(server.inbound, args, request)).output), {
      timeoutMs: 10_000,
      what: 'the server sidecar refuses the revoked client certificate',
    });
    process.stdout.write(`# revoked client certificate refused after ${Date.now() - started} ms\n`);

    // The server sidecar's own certificate: it is replaced, and traffic carries on.
    const serverSerial = async () =>
      ((await (await fetch(`${server.admin}/certs`, { headers: proxyAuth })).json()) as Certs).certificates[0]
        .cert_chain[0].serial_number;
    const old = await serverSerial();
    assert.equal((await revoke(old)).status, 201);
    await eventually(async () => (await serverSerial()) !== old, {
      timeoutMs: 15_000,
      what: 'the server sidecar renews',
    });
    await eventually(async () => (await curl(client.outbound, 'server:8080', '/after-revoke')).status === 200, {
      what: 'traffic flows with the new certificate',
    });
  });
});

type Certs = { certificates: { cert_chain: { serial_number: string }[] }[] };
