import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { CITADEL_EVENTS_PACKAGE, type CitadelEvent } from '#libs/proto';
import {
  createTestDatabase,
  json,
  newKek,
  ServiceProcess,
  type TestDatabase,
  useCitadelTls,
  newCsr,
} from '#libs/testing';

const run = promisify(execFile);
const ADMIN = 'citadel-lifecycle-admin-token-0123456789';
const scratch = mkdtempSync(join(tmpdir(), 'bowline-lifecycle-'));
let n = 0;
const path = (name: string) => join(scratch, `${n++}-${name}`);

interface Workload {
  keyFile: string;
  chainFile: string;
  chain: string[];
  serial: string;
}

/** Revocation, CRL, the event stream and rotations, observed the way proxies and tools see them. */
describe('Citadel certificate lifecycle', () => {
  let db: TestDatabase;
  let citadel: ServiceProcess;
  let bundleFile: string;

  const admin = (method: string, url: string, body?: unknown) =>
    fetch(citadel.adminUrl + url, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /** A workload obtains a certificate with a join token (openssl makes its key and CSR). */
  async function enrol(namespace: string, serviceAccount: string): Promise<Workload> {
    const { token } = await json(await admin('POST', '/v1/join-tokens', { namespace, serviceAccount }));
    const keyFile = path('key.pem');
    const csrPem = await newCsr({ keyFile, csrFile: path('csr.pem'), subject: '/O=w' });
    const out = await citadel.grpcurl(
      '-H',
      `authorization: Bearer ${token}`,
      '-d',
      JSON.stringify({ csr: csrPem }),
      'istio.v1.auth.IstioCertificateService/CreateCertificate',
    );
    const chain: string[] = JSON.parse(out).cert_chain;
    const chainFile = path('chain.pem');
    writeFileSync(chainFile, chain[0] + chain[1]);
    const { stdout } = await run('openssl', ['x509', '-in', chainFile, '-noout', '-serial']);
    return { keyFile, chainFile, chain, serial: stdout.trim().slice('serial='.length) };
  }

  /** Opens CitadelEvents/Subscribe as `workload` (mTLS) and collects what arrives. */
  function subscribe(workload: Workload) {
    const definition = loadSync(CITADEL_EVENTS_PACKAGE.protoPath, PROTO_LOADER_OPTIONS);
    const Service = grpc.loadPackageDefinition(definition).bowline as unknown as {
      citadel: { v1: { CitadelEvents: grpc.ServiceClientConstructor } };
    };
    const credentials = grpc.credentials.createSsl(
      readFileSync(bundleFile),
      readFileSync(workload.keyFile),
      readFileSync(workload.chainFile),
    );
    const client = new Service.citadel.v1.CitadelEvents(citadel.grpcAddress, credentials, {
      'grpc.ssl_target_name_override': 'citadel',
    });
    const received: CitadelEvent[] = [];
    const waiters: (() => void)[] = [];
    const stream = client.Subscribe({}) as grpc.ClientReadableStream<CitadelEvent>;
    stream.on('data', (event: CitadelEvent) => {
      received.push(event);
      waiters.splice(0).forEach((wake) => wake());
    });
    stream.on('error', () => undefined);
    const next = async (match: (event: CitadelEvent) => boolean, what: string): Promise<CitadelEvent> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const found = received.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no ${what} event; got ${JSON.stringify(received).slice(0, 500)}`);
        await new Promise<void>((wake) => {
          waiters.push(wake);
          setTimeout(wake, 200);
        });
      }
    };
    return { received, next, close: () => (stream.cancel(), client.close()) };
  }

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    citadel = await ServiceProcess.spawn('citadel', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      BOWLINE_CA_KEK: newKek(),
    });
    await citadel.waitFor('/readyz');
    bundleFile = await useCitadelTls(citadel, ADMIN);
  });
  after(async () => {
    await citadel?.stop();
    await db?.drop();
  });

  it('pushes the bundle and deny list on subscribe, then a revocation as it happens; the CRL lists it', async () => {
    const proxy = await enrol('shop', 'cart');
    const peer = await enrol('shop', 'payments');
    const events = subscribe(proxy);
    try {
      const bundle = await events.next((e) => !!e.trust_bundle, 'trust bundle');
      assert.equal(bundle.trust_bundle!.root_certs.join(''), readFileSync(bundleFile, 'utf8'));
      await events.next((e) => !!e.revocations?.snapshot, 'deny-list snapshot');

      const revoked = await admin('POST', `/v1/certificates/${peer.serial}/revoke`, { reason: 'keyCompromise' });
      assert.equal(revoked.status, 201);
      assert.equal((await json(revoked)).status, 'revoked');
      await events.next((e) => !!e.revocations?.serials.includes(peer.serial), 'revocation');

      const crl = await admin('GET', '/v1/crl');
      assert.equal(crl.headers.get('content-type'), 'application/pkix-crl');
      const crlFile = path('crl.der');
      writeFileSync(crlFile, Buffer.from(await crl.arrayBuffer()));
      const caFile = path('ca.pem');
      writeFileSync(caFile, peer.chain[1] + peer.chain[2]);
      const { stdout, stderr } = await run('openssl', [
        'crl',
        '-inform',
        'DER',
        '-in',
        crlFile,
        '-CAfile',
        caFile,
        '-noout',
        '-text',
      ]);
      assert.match(stderr + stdout, /verify OK/);
      assert.match(stdout, new RegExp(`Serial Number: ${peer.serial}`));
      assert.match(stdout, /Key Compromise/);

      const bad = await admin('POST', `/v1/certificates/${peer.serial}/revoke`, { reason: 'boredom' });
      assert.equal(bad.status, 400);
    } finally {
      events.close();
    }
  });

  it('rotates an identity: its proxies are told to re-key now, and superseded certificates are revoked after the grace', async () => {
    const proxy = await enrol('shop', 'rotating');
    const events = subscribe(proxy);
    try {
      await events.next((e) => !!e.trust_bundle, 'trust bundle');
      const requested = await admin('POST', '/v1/identities/shop/rotating/rotate', { graceSeconds: 1 });
      assert.equal(requested.status, 202);
      const signal = await events.next((e) => !!e.rotate_now, 'rotate-now');
      assert.equal(
        signal.rotate_now!.spiffe_id,
        'spiffe://cluster.local/ns/shop/rotating'.replace('shop/', 'shop/sa/'),
      );
      await events.next(
        (e) => !!e.revocations?.serials.includes(proxy.serial),
        'revocation of the superseded certificate',
      );
      const record = await json(await admin('GET', `/v1/certificates/${proxy.serial}`));
      assert.equal(record.status, 'revoked');
      assert.equal(record.revocationReason, 'superseded');
    } finally {
      events.close();
    }
  });

  it('rotates the root with an overlap: old and new leaves both verify against the published bundle', async () => {
    const before = await enrol('shop', 'old-leaf');
    const events = subscribe(before);
    try {
      await events.next((e) => e.trust_bundle?.root_certs.length === 1, 'initial bundle');
      const started = await admin('POST', '/v1/ca/root/rotate', { distributionSeconds: 0 });
      assert.equal(started.status, 202, await started.clone().text());
      await events.next((e) => e.trust_bundle?.root_certs.length === 2, 'bundle with both roots');

      const status = await json(await admin('GET', '/v1/ca/status'));
      assert.equal(status.phase, 'old-root-trusted-until-its-leaves-expire');
      const retired = status.authorities.find(
        (a: { role: string; status: string }) => a.role === 'root' && a.status === 'retired',
      );
      const { stdout: endLine } = await run('openssl', ['x509', '-in', before.chainFile, '-noout', '-enddate']);
      assert.ok(
        Date.parse(retired.trustedUntil) >= Date.parse(endLine.trim().slice('notAfter='.length)),
        'old root outlives its last leaf in the bundle',
      );

      bundleFile = await useCitadelTls(citadel, ADMIN);
      const after = await enrol('shop', 'new-leaf');
      assert.notEqual(after.chain[2], before.chain[2], 'new leaves chain to the new root');
      for (const leaf of [before, after]) {
        const leafFile = path('leaf.pem');
        writeFileSync(leafFile, leaf.chain[0]);
        const untrusted = path('intermediate.pem');
        writeFileSync(untrusted, leaf.chain[1]);
        await run('openssl', ['verify', '-CAfile', bundleFile, '-untrusted', untrusted, leafFile]);
      }
    } finally {
      events.close();
    }
  });

  it('rotates the intermediate under the same root and serves the bundle as a SPIFFE JWKS', async () => {
    const before = await enrol('shop', 'i-before');
    const rotated = await admin('POST', '/v1/ca/intermediate/rotate');
    assert.equal(rotated.status, 201, await rotated.clone().text());
    await new Promise((r) => setTimeout(r, 300)); // the replica reloads on the NOTIFY
    const after = await enrol('shop', 'i-after');
    assert.notEqual(after.chain[1], before.chain[1]);
    assert.equal(after.chain[2], before.chain[2]);

    const spiffe = await json(await admin('GET', '/v1/trust-bundle?format=spiffe'));
    assert.ok(spiffe.keys.length >= 1);
    for (const key of spiffe.keys) {
      assert.equal(key.use, 'x509-svid');
      assert.ok(key.x5c[0].length > 100);
    }
  });
});
