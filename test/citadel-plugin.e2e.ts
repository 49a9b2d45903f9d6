import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
  openssl,
  selfSigned,
} from '#libs/testing';

const run = promisify(execFile);
const ADMIN = 'citadel-plugin-admin-token-0123456789abc';

/** An operator's own CA hierarchy made with the openssl CLI, in Istio's cacerts layout. */
async function operatorCa(dir: string): Promise<Record<string, string>> {
  const f = (name: string) => join(dir, name);
  writeFileSync(
    f('ext.cnf'),
    '[ca]\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' +
      '[leaf]\nbasicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\n',
  );
  await selfSigned({
    keyFile: f('root-key.pem'),
    certFile: f('root-cert.pem'),
    subject: '/O=Operator/CN=Operator Root',
    days: 3650,
    extensions: ['basicConstraints=critical,CA:true', 'keyUsage=critical,keyCertSign,cRLSign'],
  });
  await newCsr({ keyFile: f('ca-key.pem'), csrFile: f('ca.csr'), subject: '/O=Operator/CN=Mesh Intermediate' });
  // The same key certified twice by the root: once as a CA (ca-cert.pem), once not (to refuse).
  for (const [out, section] of [
    ['ca-cert.pem', 'ca'],
    ['not-ca.pem', 'leaf'],
  ]) {
    await openssl(
      'x509',
      '-req',
      '-in',
      f('ca.csr'),
      '-CA',
      f('root-cert.pem'),
      '-CAkey',
      f('root-key.pem'),
      '-CAcreateserial',
      '-out',
      f(out),
      '-days',
      '365',
      '-extfile',
      f('ext.cnf'),
      '-extensions',
      section,
    );
  }
  writeFileSync(f('cert-chain.pem'), readFileSync(f('ca-cert.pem'), 'utf8') + readFileSync(f('root-cert.pem'), 'utf8'));
  const read = (name: string) => readFileSync(f(name), 'utf8');
  return {
    caCert: read('ca-cert.pem'),
    caKey: read('ca-key.pem'),
    certChain: read('cert-chain.pem'),
    rootCert: read('root-cert.pem'),
    notCa: read('not-ca.pem'),
    rootKey: read('root-key.pem'),
  };
}

describe('Citadel with a plugged-in CA (Istio cacerts)', () => {
  let db: TestDatabase;
  let citadel: ServiceProcess;
  let ca: Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'bowline-cacerts-'));
  const kek = newKek();

  const admin = (method: string, url: string, body?: unknown) =>
    fetch(citadel.adminUrl + url, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  async function issue(): Promise<string[]> {
    const { token } = await json(
      await admin('POST', '/v1/join-tokens', { namespace: 'default', serviceAccount: 'plugged' }),
    );
    const csrFile = join(dir, `${Date.now()}.csr`);
    const csrPem = await newCsr({ keyFile: `${csrFile}.key`, csrFile, subject: '/O=w' });
    const out = await citadel.grpcurl(
      '-H',
      `authorization: Bearer ${token}`,
      '-d',
      JSON.stringify({ csr: csrPem }),
      'istio.v1.auth.IstioCertificateService/CreateCertificate',
    );
    return JSON.parse(out).cert_chain;
  }

  before(async () => {
    ca = await operatorCa(dir);
    db = await createTestDatabase();
    await db.migrate();
    citadel = await ServiceProcess.spawn('citadel', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      BOWLINE_CA_KEK: kek,
    });
    await citadel.waitFor('/readyz');
    await useCitadelTls(citadel, ADMIN);
  });
  after(async () => {
    await citadel?.stop();
    await db?.drop();
  });

  it('names the first thing wrong with bad material and changes nothing', async () => {
    const mismatched = await admin('PUT', '/v1/ca/plugged-in', {
      ...ca,
      caKey: ca.rootKey,
      notCa: undefined,
      rootKey: undefined,
    });
    assert.equal(mismatched.status, 400);
    assert.match((await json(mismatched)).detail, /key/i);
    const notCa = await admin('PUT', '/v1/ca/plugged-in', { caCert: ca.notCa, caKey: ca.caKey, rootCert: ca.rootCert });
    assert.equal(notCa.status, 400);
    assert.match((await json(notCa)).detail, /CA/);
    const missing = await admin('PUT', '/v1/ca/plugged-in', { caCert: ca.caCert });
    assert.equal(missing.status, 400);
    assert.deepEqual((await json(missing)).errors.map((e: { path: string }) => e.path).sort(), ['caKey', 'rootCert']);
    const status = await json(await admin('GET', '/v1/ca/status'));
    assert.ok(status.authorities.every((a: { origin: string }) => a.origin === 'self-signed'));
  });

  it('signs under the operator root once plugged in; openssl verifies the new chain against the published bundle', async () => {
    const { rootKey: _rootKey, notCa: _notCa, ...material } = ca;
    const response = await admin('PUT', '/v1/ca/plugged-in', material);
    assert.equal(response.status, 200, await response.clone().text());
    await new Promise((r) => setTimeout(r, 500)); // reload on NOTIFY
    await useCitadelTls(citadel, ADMIN); // Citadel now serves under the new root too
    const chain = await issue();
    assert.equal(chain[chain.length - 1].trim(), ca.rootCert.trim(), 'the chain ends at the operator root');
    const bundle = await (await admin('GET', '/v1/trust-bundle')).text();
    assert.ok(bundle.includes(ca.rootCert.trim()), 'the operator root is in the bundle');
    const files = ['leaf', 'intermediate', 'bundle'].map((name) => join(dir, `${name}.pem`));
    writeFileSync(files[0], chain[0]);
    writeFileSync(files[1], chain[1]);
    writeFileSync(files[2], bundle);
    await run('openssl', ['verify', '-CAfile', files[2], '-untrusted', files[1], files[0]]);
  });

  it('installs the same material from CITADEL_CA_DIR at start-up', async () => {
    const fresh = await createTestDatabase();
    await fresh.migrate();
    const fromDir = await ServiceProcess.spawn('citadel', {
      DATABASE_URL: fresh.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      BOWLINE_CA_KEK: newKek(),
      CITADEL_CA_DIR: dir,
    });
    try {
      await fromDir.waitFor('/readyz');
      const bundle = await (
        await fetch(`${fromDir.adminUrl}/v1/trust-bundle`, { headers: { authorization: `Bearer ${ADMIN}` } })
      ).text();
      assert.equal(bundle.trim(), ca.rootCert.trim());
    } finally {
      await fromDir.stop();
      await fresh.drop();
    }
  });
});
