import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import pino from 'pino';
import { parseCsr, splitPemCertificates } from '#libs/pki';
import {
  adminCall,
  createTestDatabase,
  fetchTrustBundle,
  freePort,
  newKek,
  ServiceProcess,
  type TestDatabase,
  until,
} from '#libs/testing';
import { type IdentitySnapshot, ProxyError, WorkloadIdentity } from '../apps/proxy/src/identity';

const ADMIN = 'proxy-identity-e2e-admin-token-0123456789';
const CREATE_CERTIFICATE = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

/** One gRPC call the identity made, as an interceptor saw it leave the process. */
interface SentCall {
  method: string;
  authorization: string[];
  message?: { csr?: string; validity_duration?: string } & Record<string, unknown>;
}

/** Records every call's method, `authorization` metadata and request message. */
function recorder(into: SentCall[]): Interceptor {
  return (options, nextCall) => {
    const call: SentCall = { method: options.method_definition.path, authorization: [] };
    into.push(call);
    return new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        call.authorization = metadata.get('authorization').map(String);
        next(metadata, listener);
      },
      sendMessage: (message, next) => {
        call.message = message as SentCall['message'];
        next(message);
      },
    });
  };
}

const spki = (key: ReturnType<typeof createPublicKey>) => key.export({ type: 'spki', format: 'der' });

/**
 * The proxy's workload identity against a real Citadel process: join token first, mTLS
 * renewals, the event stream (revocation, rotate-now), and a Citadel outage.
 */
describe('proxy workload identity with a real Citadel', () => {
  let db: TestDatabase;
  let citadel: ServiceProcess;
  let citadelAddress: string;
  let rootsPem: string;
  const kek = newKek();
  const logLines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    }),
  );
  const logs = () => logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const secrets: string[] = [];
  const identities: WorkloadIdentity[] = [];

  const admin = (method: string, path: string, body?: unknown) =>
    adminCall(citadel.adminUrl, ADMIN, method, path, body);

  /** Citadel on a fixed gRPC port, so the proxy finds it again after a restart. */
  async function startCitadel(grpcPort: number): Promise<ServiceProcess> {
    const service = await ServiceProcess.spawn('citadel', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      BOWLINE_CA_KEK: kek,
      CITADEL_GRPC_PORT: String(grpcPort),
      // Open event streams hold a graceful shutdown for its whole grace; keep the outage short.
      BOWLINE_SHUTDOWN_GRACE: '2s',
    });
    await service.waitFor('/readyz');
    return service;
  }

  async function mintJoinToken(serviceAccount: string, maxUses: number): Promise<{ id: string; token: string }> {
    const minted = await admin('POST', '/v1/join-tokens', { namespace: 'shop', serviceAccount, maxUses });
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    secrets.push(minted.body.token);
    return minted.body;
  }

  function newIdentity(params: { joinToken: string; serviceAccount: string; certTtlMs: number; calls: SentCall[] }) {
    const identity = new WorkloadIdentity({
      citadelAddress,
      citadelServerName: 'citadel',
      caRootsPem: rootsPem,
      joinToken: params.joinToken,
      certTtlMs: params.certTtlMs,
      namespace: 'shop',
      serviceAccount: params.serviceAccount,
      logger,
      interceptors: [recorder(params.calls)],
    });
    identity.onChange((snapshot) => secrets.push(snapshot.certificate.keyPem));
    identities.push(identity);
    return identity;
  }

  const certificateRequests = (calls: SentCall[]) => calls.filter((call) => call.method === CREATE_CERTIFICATE);
  const inventory = async (serial: string) => (await admin('GET', `/v1/certificates/${serial}`)).body;
  const renewedTo = (identity: WorkloadIdentity, from: string, what: string, timeoutMs = 10_000) =>
    until(
      what,
      async () => {
        const certificate = identity.current()?.certificate;
        return certificate && certificate.serial !== from ? certificate : undefined;
      },
      timeoutMs,
    );
  const eventsConnected = (identity: WorkloadIdentity, connected = true) =>
    until(
      `event stream ${connected ? 'connected' : 'lost'}`,
      async () => (identity.status().eventsConnected === connected ? true : undefined),
      15_000,
    );

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    const grpcPort = await freePort();
    citadelAddress = `127.0.0.1:${grpcPort}`;
    citadel = await startCitadel(grpcPort);
    rootsPem = readFileSync(await fetchTrustBundle(citadel, ADMIN), 'utf8');
  });
  after(async () => {
    identities.forEach((identity) => identity.stop());
    await citadel?.stop();
    await db?.drop();
  });

  // Shared by the tests below, in order: a 20 s certificate renews by itself every ~10 s.
  const cartCalls: SentCall[] = [];
  let cart: WorkloadIdentity;
  let cartToken: { id: string; token: string };
  const cartChanges: IdentitySnapshot[] = [];

  it('gets its first certificate with a single-use join token; only the CSR leaves the process', async () => {
    cartToken = await mintJoinToken('cart', 1);
    cart = newIdentity({ joinToken: cartToken.token, serviceAccount: 'cart', certTtlMs: 20_000, calls: cartCalls });
    cart.onChange((snapshot) => cartChanges.push(snapshot));
    await cart.start();

    const snapshot = cart.current()!;
    const { certificate } = snapshot;
    assert.equal(cartChanges.length, 1);
    assert.equal(cartChanges[0], snapshot);
    assert.equal(certificate.spiffeId, 'spiffe://cluster.local/ns/shop/sa/cart');
    assert.equal(cart.trustDomain(), 'cluster.local');
    assert.deepEqual(snapshot.rootsPem, splitPemCertificates(rootsPem));

    // What was sent: a CSR for our key, the TTL, the token as bearer metadata; no key material.
    const [request] = certificateRequests(cartCalls);
    assert.deepEqual(Object.keys(request!.message!).sort(), ['csr', 'validity_duration']);
    assert.equal(request!.message!.validity_duration, '20');
    assert.deepEqual(request!.authorization, [`Bearer ${cartToken.token}`]);
    assert.doesNotMatch(JSON.stringify(request!.message), /PRIVATE KEY/);
    const csr = parseCsr(request!.message!.csr!);
    const leaf = new X509Certificate(certificate.chainPem);
    assert.deepEqual(csr.publicKeyDer, spki(leaf.publicKey), "the certificate certifies the CSR's key");
    assert.deepEqual(spki(createPublicKey(certificate.keyPem)), csr.publicKeyDer, 'and that is our in-memory key');
    assert.deepEqual(csr.uriSans, [certificate.spiffeId]);

    // The chain: leaf and intermediate (the root is in the bundle), verifying up to a trusted root.
    const [leafPem, intermediatePem, ...rest] = splitPemCertificates(certificate.chainPem);
    assert.equal(rest.length, 0);
    const intermediate = new X509Certificate(intermediatePem!);
    assert.ok(new X509Certificate(leafPem!).verify(intermediate.publicKey));
    assert.ok(snapshot.rootsPem.some((root) => intermediate.verify(new X509Certificate(root).publicKey)));

    // Serial and fingerprint in the formats the data plane and Citadel's inventory use.
    assert.equal(certificate.serial, leaf.serialNumber);
    const record = await inventory(certificate.serial);
    assert.equal(record.serial, certificate.serial);
    assert.equal(record.authMethod, 'join-token');
    assert.equal(record.fingerprintSha256.replace(/:/g, '').toLowerCase(), certificate.fingerprint256);
    assert.equal(certificate.notAfter.toISOString(), record.notAfter);

    const status = cart.status();
    const lifetimeFromReceipt = certificate.notAfter.getTime() - status.lastRenewal!.getTime();
    const renewIn = status.nextRenewal!.getTime() - status.lastRenewal!.getTime();
    assert.ok(
      renewIn >= 0.4 * lifetimeFromReceipt - 1 && renewIn <= 0.6 * lifetimeFromReceipt + 1,
      `renewal ${renewIn} ms after receipt`,
    );
    await eventsConnected(cart);
    assert.ok(logs().some((line) => line.msg === 'workload certificate issued' && line.serial === certificate.serial));
  });

  it('renews by itself at about half the lifetime, over mTLS without the (spent) join token', async () => {
    const first = cart.current()!.certificate;
    const issuedAt = cart.status().lastRenewal!.getTime();
    const tokens = await admin('GET', '/v1/join-tokens?namespace=shop&serviceAccount=cart');
    const token = tokens.body.items.find((item: { id: string }) => item.id === cartToken.id);
    assert.equal(token.uses, token.maxUses, 'the single-use join token is spent');

    const renewed = await renewedTo(cart, first.serial, 'the scheduled renewal', 15_000);
    const after = cart.status().lastRenewal!.getTime() - issuedAt;
    // Scheduled at 8-12 s of the 20 s lifetime; the upper bound leaves room for a slow issuance
    // on a loaded machine while still proving it renewed well before expiry.
    assert.ok(after >= 7_000 && after <= 16_000, `renewed ${after} ms after the first certificate`);
    assert.equal(renewed.spiffeId, first.spiffeId);
    assert.notEqual(renewed.keyPem, first.keyPem, 'a new key for every renewal');
    const request = certificateRequests(cartCalls).at(-1)!;
    assert.deepEqual(request.authorization, [], 'no join token on renewal');
    assert.deepEqual(parseCsr(request.message!.csr!).publicKeyDer, spki(createPublicKey(renewed.keyPem)));
    assert.equal((await inventory(renewed.serial)).authMethod, 'certificate');
    assert.equal(cartChanges.at(-1)!.certificate, renewed, 'listeners got the new certificate');
    assert.ok(
      logs().some(
        (line) =>
          line.msg === 'workload certificate renewed' &&
          line.serial === renewed.serial &&
          line.reason === 'scheduled renewal',
      ),
    );
    await eventsConnected(cart);
  });

  it("re-keys when an operator rotates the identity through Citadel's admin API (RotateNow event)", async () => {
    await eventsConnected(cart);
    const before = cart.current()!.certificate.serial;
    const rotation = await admin('POST', '/v1/identities/shop/cart/rotate', { graceSeconds: 60 });
    assert.equal(rotation.status, 202, JSON.stringify(rotation.body));
    const rotated = await renewedTo(cart, before, 'the rotate-now renewal');
    await until('the rotate-now log line', async () =>
      logs().some(
        (line) =>
          line.msg === 'workload certificate renewed' &&
          line.serial === rotated.serial &&
          /rotate now: rotated by an operator/.test(String(line.reason)),
      )
        ? true
        : undefined,
    );
    assert.equal((await inventory(rotated.serial)).authMethod, 'certificate');
  });

  it('sees a revocation of its current certificate (deny list, listeners) and replaces it', async () => {
    const paymentsCalls: SentCall[] = [];
    const { token } = await mintJoinToken('payments', 3);
    const payments = newIdentity({
      joinToken: token,
      serviceAccount: 'payments',
      certTtlMs: 3_600_000,
      calls: paymentsCalls,
    });
    await payments.start();
    await eventsConnected(payments);
    await eventsConnected(cart);
    const seenByPayments: string[] = [];
    const seenByCart: string[] = [];
    payments.onRevocation((serials) => seenByPayments.push(...serials));
    cart.onRevocation((serials) => seenByCart.push(...serials));

    const revokedSerial = payments.current()!.certificate.serial;
    assert.equal(payments.isRevoked(revokedSerial), false);
    const revoked = await admin('POST', `/v1/certificates/${revokedSerial}/revoke`, { reason: 'keyCompromise' });
    assert.equal(revoked.status, 201, JSON.stringify(revoked.body));

    await until('the revocation on the event stream', async () =>
      payments.isRevoked(revokedSerial) ? true : undefined,
    );
    assert.ok(seenByPayments.includes(revokedSerial));
    assert.ok(payments.isRevoked(revokedSerial.toLowerCase()), 'serials compare case-insensitively');
    await until('the revocation at the other proxy', async () => (cart.isRevoked(revokedSerial) ? true : undefined));
    assert.ok(seenByCart.includes(revokedSerial));

    // Citadel refuses a revoked certificate for renewal, so the replacement uses the join token again.
    const replacement = await renewedTo(payments, revokedSerial, 'the replacement of the revoked certificate');
    assert.equal(payments.isRevoked(replacement.serial), false);
    assert.deepEqual(certificateRequests(paymentsCalls).at(-1)!.authorization, [`Bearer ${token}`]);
    assert.equal((await inventory(replacement.serial)).authMethod, 'join-token');
    await eventsConnected(payments);
    assert.ok(payments.isRevoked(revokedSerial), 'still denied after reconnecting (snapshot)');
    payments.stop();
  });

  it('follows a root rotation: the pushed bundle replaces the roots, listeners hear of it, Citadel is trusted under the new root', async () => {
    await eventsConnected(cart);
    const [oldRoot] = splitPemCertificates(rootsPem);
    const changesBefore = cartChanges.length;
    const started = await admin('POST', '/v1/ca/root/rotate', { distributionSeconds: 0 });
    assert.equal(started.status, 202, JSON.stringify(started.body));

    const withBoth = await until('the trust bundle with both roots', async () =>
      cart.current()!.rootsPem.length === 2 ? cart.current()! : undefined,
    );
    assert.ok(withBoth.rootsPem.includes(oldRoot!), 'the old root stays trusted');
    const newRoot = withBoth.rootsPem.find((root) => root !== oldRoot)!;
    assert.ok(cartChanges.slice(changesBefore).some((snapshot) => snapshot.rootsPem.length === 2));

    // Citadel now serves (and signs) under the new root: only the pushed bundle lets us talk to it.
    const before = cart.current()!.certificate.serial;
    await cart.rotateNow('after the root rotation');
    const renewed = cart.current()!.certificate;
    assert.notEqual(renewed.serial, before);
    const intermediate = new X509Certificate(splitPemCertificates(renewed.chainPem)[1]!);
    assert.ok(intermediate.verify(new X509Certificate(newRoot).publicKey), 'issued under the new root');
    rootsPem = withBoth.rootsPem.join(''); // what a proxy started from now would be given
  });

  it('keeps its certificate while Citadel is down and renews over mTLS once it is back', async () => {
    cart.stop(); // its 20 s certificates could expire during the outage; this one lives 2 minutes
    const ordersCalls: SentCall[] = [];
    const { token } = await mintJoinToken('orders', 1);
    const orders = newIdentity({ joinToken: token, serviceAccount: 'orders', certTtlMs: 120_000, calls: ordersCalls });
    await orders.start();
    await eventsConnected(orders);
    const held = orders.current()!;
    const grpcPort = Number(citadelAddress.split(':')[1]);
    await citadel.stop();
    await eventsConnected(orders, false);

    await assert.rejects(orders.rotateNow('during the outage'), (error: unknown) => {
      assert.ok(error instanceof ProxyError);
      assert.equal(error.code, 'CITADEL_UNAVAILABLE');
      return true;
    });
    assert.equal(orders.current(), held, 'current() still returns the certificate');
    assert.match(orders.status().lastError ?? '', /unreachable/);
    assert.ok(orders.status().nextRenewal, 'a retry is scheduled');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // a few more failed retries
    assert.equal(orders.current(), held);

    citadel = await startCitadel(grpcPort);
    const renewed = await renewedTo(orders, held.certificate.serial, 'renewal after Citadel restarted', 20_000);
    assert.deepEqual(certificateRequests(ordersCalls).at(-1)!.authorization, [], 'mTLS: the join token is spent');
    assert.equal((await inventory(renewed.serial)).authMethod, 'certificate');
    assert.equal(orders.status().lastError, undefined);
    await eventsConnected(orders);
    orders.stop();
  });

  it('never logged a private key or a join token', () => {
    const text = logLines.join('');
    assert.doesNotMatch(text, /PRIVATE KEY/);
    for (const secret of secrets) {
      const body = secret.replace(/-----[^-]+-----|\s/g, '');
      assert.equal(text.includes(body.slice(0, 40)), false);
    }
  });
});
