import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import {
  createTestDatabase,
  json,
  newKek,
  ServiceProcess,
  type TestDatabase,
  useCitadelTls,
  newCsr,
  selfSigned,
} from '#libs/testing';

const run = promisify(execFile);
const ADMIN = 'citadel-e2e-admin-token-0123456789abcdef';
const scratch = mkdtempSync(join(tmpdir(), 'bowline-citadel-'));
let counter = 0;

/** Writes `text` to a fresh file in the scratch directory and returns its path. */
function file(name: string, text: string): string {
  const path = join(scratch, `${counter++}-${name}`);
  writeFileSync(path, text);
  return path;
}

/** A key and CSR made by the openssl CLI, as a workload's agent would. */
async function csr(options: { key?: string[]; san?: string } = {}): Promise<{ keyFile: string; csrPem: string }> {
  const keyFile = join(scratch, `${counter++}-key.pem`);
  const csrPem = await newCsr({ keyFile, csrFile: join(scratch, `${counter++}-csr.pem`), ...options });
  return { keyFile, csrPem };
}

type Outcome = { chain: string[] } | { code: string; message: string };

/** Calls IstioCertificateService/CreateCertificate with grpcurl, over Citadel's TLS port. */
async function createCertificate(
  citadel: ServiceProcess,
  request: { csr: string; validity_duration?: number },
  auth: { token?: string; cert?: string; key?: string } = {},
): Promise<Outcome> {
  const flags = ['-d', JSON.stringify(request)];
  if (auth.token) flags.push('-H', `authorization: Bearer ${auth.token}`);
  if (auth.cert && auth.key) flags.push('-cert', auth.cert, '-key', auth.key);
  try {
    const out = JSON.parse(await citadel.grpcurl(...flags, 'istio.v1.auth.IstioCertificateService/CreateCertificate'));
    return { chain: out.cert_chain ?? out.certChain };
  } catch (error) {
    const text =
      String((error as { stdout?: string }).stdout ?? '') + String((error as { stderr?: string }).stderr ?? '');
    const code = /Code: (\w+)/.exec(text)?.[1] ?? 'unknown';
    const message = /Message: (.*)/.exec(text)?.[1] ?? text;
    return { code, message };
  }
}

function chainOf(outcome: Outcome): string[] {
  assert.ok('chain' in outcome, `expected a certificate, got ${JSON.stringify(outcome)}`);
  return outcome.chain;
}

function refusal(outcome: Outcome): { code: string; message: string } {
  assert.ok('code' in outcome, 'expected a refusal, got a certificate');
  return outcome;
}

async function mintJoinToken(
  citadel: ServiceProcess,
  body: Record<string, unknown>,
): Promise<{ id: string; token: string }> {
  const response = await fetch(`${citadel.adminUrl}/v1/join-tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return json(response);
}

describe('Citadel, the mesh CA', () => {
  let db: TestDatabase;
  let citadel: ServiceProcess;
  const kek = newKek();
  let bundle: string;

  const start = async (env: Record<string, string> = {}) => {
    const service = await ServiceProcess.spawn('citadel', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      BOWLINE_CA_KEK: kek,
      ...env,
    });
    await service.waitFor('/readyz');
    return service;
  };

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    citadel = await start();
    bundle = await useCitadelTls(citadel, ADMIN);
  });
  after(async () => {
    await citadel?.stop();
    await db?.drop();
  });

  it('issues a SPIFFE certificate for a join token that openssl verifies against the trust bundle', async () => {
    const { token } = await mintJoinToken(citadel, { namespace: 'default', serviceAccount: 'reviews' });
    const { csrPem } = await csr({ san: 'URI:spiffe://cluster.local/ns/default/sa/reviews' });
    const chain = chainOf(await createCertificate(citadel, { csr: csrPem, validity_duration: 3600 }, { token }));
    assert.equal(chain.length, 3, 'leaf, intermediate, root');
    const leaf = file('leaf.pem', chain[0]);
    await run('openssl', ['verify', '-CAfile', bundle, '-untrusted', file('intermediate.pem', chain[1]), leaf]);
    const { stdout } = await run('openssl', [
      'x509',
      '-in',
      leaf,
      '-noout',
      '-ext',
      'subjectAltName,basicConstraints,extendedKeyUsage',
      '-serial',
    ]);
    assert.match(stdout, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews/);
    assert.match(stdout, /CA:FALSE/);
    assert.match(stdout, /TLS Web Server Authentication, TLS Web Client Authentication/);
    const serial = /serial=([0-9A-F]+)/.exec(stdout)![1];
    const recorded = await json(
      await fetch(`${citadel.adminUrl}/v1/certificates/${serial}`, { headers: { authorization: `Bearer ${ADMIN}` } }),
    );
    assert.equal(recorded.spiffeId, 'spiffe://cluster.local/ns/default/sa/reviews');
    assert.equal(recorded.authMethod, 'join-token');
  });

  it('issues the authenticated identity whatever the CSR asks, and refuses a different SPIFFE ID by name', async () => {
    const { token } = await mintJoinToken(citadel, { namespace: 'default', serviceAccount: 'ratings', maxUses: 2 });
    const { csrPem: plain } = await csr();
    const chain = chainOf(await createCertificate(citadel, { csr: plain }, { token }));
    const { stdout } = await run('openssl', [
      'x509',
      '-in',
      file('leaf.pem', chain[0]),
      '-noout',
      '-ext',
      'subjectAltName',
    ]);
    assert.match(stdout, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/ratings/);

    const { csrPem: forged } = await csr({ san: 'URI:spiffe://cluster.local/ns/kube-system/sa/admin' });
    const refused = refusal(await createCertificate(citadel, { csr: forged }, { token }));
    assert.equal(refused.code, 'PermissionDenied');
    assert.match(refused.message, /ns\/kube-system\/sa\/admin/);
    assert.match(refused.message, /ns\/default\/sa\/ratings/);
  });

  it('refuses weak keys, garbage and an oversized TTL with INVALID_ARGUMENT and the reason', async () => {
    const { token } = await mintJoinToken(citadel, { namespace: 'default', serviceAccount: 'weak', maxUses: 10 });
    const { csrPem: rsa1024 } = await csr({ key: ['-newkey', 'rsa:1024'] });
    const weak = refusal(await createCertificate(citadel, { csr: rsa1024 }, { token }));
    assert.equal(weak.code, 'InvalidArgument');
    assert.match(weak.message, /1024/);

    const garbage = refusal(
      await createCertificate(
        citadel,
        { csr: '-----BEGIN CERTIFICATE REQUEST-----\nbm9wZQ==\n-----END CERTIFICATE REQUEST-----\n' },
        { token },
      ),
    );
    assert.equal(garbage.code, 'InvalidArgument');

    const { csrPem } = await csr();
    const long = refusal(await createCertificate(citadel, { csr: csrPem, validity_duration: 30 * 86_400 }, { token }));
    assert.equal(long.code, 'InvalidArgument');
    assert.match(long.message, /exceeds the maximum of 604800s/);
  });

  it('refuses expired, used-up and revoked join tokens with UNAUTHENTICATED and why', async () => {
    const { csrPem } = await csr();
    const once = await mintJoinToken(citadel, { namespace: 'default', serviceAccount: 'once' });
    chainOf(await createCertificate(citadel, { csr: csrPem }, { token: once.token }));
    const usedUp = refusal(await createCertificate(citadel, { csr: csrPem }, { token: once.token }));
    assert.equal(usedUp.code, 'Unauthenticated');
    assert.match(usedUp.message, /used 1 of 1 times/);

    const revoked = await mintJoinToken(citadel, { namespace: 'default', serviceAccount: 'revoked' });
    const del = await fetch(`${citadel.adminUrl}/v1/join-tokens/${revoked.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    assert.equal(del.status, 200);
    assert.match(
      refusal(await createCertificate(citadel, { csr: csrPem }, { token: revoked.token })).message,
      /was revoked/,
    );

    const expired = await mintJoinToken(citadel, { namespace: 'default', serviceAccount: 'expired' });
    await db.query(`UPDATE citadel_join_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1`, [
      expired.id,
    ]);
    const late = refusal(await createCertificate(citadel, { csr: csrPem }, { token: expired.token }));
    assert.equal(late.code, 'Unauthenticated');
    assert.match(late.message, /expired at/);

    const none = refusal(await createCertificate(citadel, { csr: csrPem }));
    assert.equal(none.code, 'Unauthenticated');
  });

  it('renews over mTLS with the current certificate, and refuses a certificate it did not issue', async () => {
    const { token } = await mintJoinToken(citadel, { namespace: 'shop', serviceAccount: 'cart' });
    const first = await csr();
    const chain = chainOf(await createCertificate(citadel, { csr: first.csrPem }, { token }));
    const current = file('current.pem', chain[0] + chain[1]);
    const next = await csr();
    const renewed = chainOf(
      await createCertificate(
        citadel,
        { csr: next.csrPem, validity_duration: 7200 },
        { cert: current, key: first.keyFile },
      ),
    );
    const { stdout } = await run('openssl', [
      'x509',
      '-in',
      file('renewed.pem', renewed[0]),
      '-noout',
      '-ext',
      'subjectAltName',
    ]);
    assert.match(stdout, /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/);

    // A certificate from another CA is not even offered (the server asks for ours).
    const foreignKey = join(scratch, 'foreign.key');
    const foreignCert = join(scratch, 'foreign.pem');
    await selfSigned({
      keyFile: foreignKey,
      certFile: foreignCert,
      subject: '/CN=x',
      days: 1,
      extensions: ['subjectAltName=URI:spiffe://cluster.local/ns/shop/sa/cart'],
    });
    assert.equal(
      refusal(await createCertificate(citadel, { csr: next.csrPem }, { cert: foreignCert, key: foreignKey })).code,
      'Unauthenticated',
    );

    // One of ours that the inventory no longer holds valid (revoked) cannot renew.
    const { stdout: serialLine } = await run('openssl', ['x509', '-in', current, '-noout', '-serial']);
    await db.query(`UPDATE citadel_certificates SET status = 'revoked', revoked_at = now() WHERE serial_hex = $1`, [
      serialLine.trim().slice('serial='.length),
    ]);
    const refused = refusal(
      await createCertificate(citadel, { csr: next.csrPem }, { cert: current, key: first.keyFile }),
    );
    assert.equal(refused.code, 'Unauthenticated');
    assert.match(refused.message, /not a valid certificate issued by this CA/);
  });

  it('counts issuances by result and reason, and exposes CA expiry, in Prometheus format', async () => {
    const response = await fetch(`${citadel.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /bowline_citadel_certificate_requests_total\{result="issued",reason="none"\} [1-9]/);
    assert.match(text, /bowline_citadel_certificate_requests_total\{result="refused",reason="SAN_MISMATCH"\} [1-9]/);
    assert.match(text, /bowline_citadel_certificate_requests_total\{result="refused",reason="UNAUTHENTICATED"\} [1-9]/);
    assert.match(text, /bowline_citadel_join_token_redemptions_total\{result="refused"\} [1-9]/);
    assert.match(text, /bowline_citadel_ca_certificate_expiry_timestamp_seconds\{role="root",serial="[0-9A-F]+"\} \d+/);
    assert.match(text, /bowline_citadel_certificate_request_duration_seconds_bucket/);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error && !process.env.CI) return; // promtool (Debian's prometheus) not installed here
    assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  });

  it('keeps its CA across a restart with the same KEK and refuses to start with another', async () => {
    const bundleBefore = await (
      await fetch(`${citadel.adminUrl}/v1/trust-bundle`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).text();
    await citadel.stop();
    citadel = await start();
    await useCitadelTls(citadel, ADMIN);
    const bundleAfter = await (
      await fetch(`${citadel.adminUrl}/v1/trust-bundle`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).text();
    assert.equal(bundleAfter, bundleBefore);

    const wrong = await ServiceProcess.spawn('citadel', { DATABASE_URL: db.url, BOWLINE_CA_KEK: newKek() });
    const exit = await wrong.exit();
    assert.notEqual(exit.code, 0);
    assert.match(wrong.logs, /sealed with a different key-encryption key/);
  });

  it('creates one CA when two replicas start at once on an empty database', async () => {
    const fresh = await createTestDatabase();
    await fresh.migrate();
    const sharedKek = newKek();
    const replicas = await Promise.all(
      [1, 2].map(() =>
        ServiceProcess.spawn('citadel', {
          DATABASE_URL: fresh.url,
          BOWLINE_CA_KEK: sharedKek,
          BOWLINE_ADMIN_TOKEN: ADMIN,
        }),
      ),
    );
    try {
      await Promise.all(replicas.map((r) => r.waitFor('/readyz')));
      const roots = await fresh.query(`SELECT count(*)::int AS n FROM citadel_authorities WHERE role = 'root'`);
      assert.equal(roots[0].n, 1);
    } finally {
      await Promise.all(replicas.map((r) => r.stop()));
      await fresh.drop();
    }
  });
});
