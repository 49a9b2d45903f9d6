import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { checkCsrIdentity, parseCsr } from './csr';
import { PkiError, type PkiErrorReason } from './errors';
import { encodePem } from './pem';
import { NEW_KEY, opensslCsr, workdir, type Workdir } from './testing/openssl';

const SPIFFE = 'spiffe://cluster.local/ns/a/sa/b';

function rejects(fn: () => unknown, reason: PkiErrorReason, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PkiError, `expected PkiError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.match(error.message, message);
    return true;
  });
}

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

describe('parseCsr', () => {
  let dir: Workdir;
  before(() => {
    dir = workdir();
  });
  after(() => dir.dispose());

  it('accepts an ECDSA P-256 CSR (what Envoy sends) and returns its key and SANs', () => {
    const { csrPem, keyPem } = opensslCsr(dir, NEW_KEY.p256, { san: `URI:${SPIFFE},DNS:b.a.svc` });
    const csr = parseCsr(csrPem);
    assert.deepEqual(csr.key, { type: 'ec', curve: 'P-256' });
    assert.equal(csr.signatureAlgorithm, 'ecdsa-with-SHA256');
    assert.deepEqual(csr.uriSans, [SPIFFE]);
    assert.deepEqual(csr.dnsSans, ['b.a.svc']);
    const expected = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    assert.ok(csr.publicKey.export({ type: 'spki', format: 'der' }).equals(expected));
    assert.ok(csr.publicKeyDer.equals(expected));
  });

  it('accepts an RSA-2048 CSR', () => {
    const csr = parseCsr(opensslCsr(dir, NEW_KEY.rsa2048, { san: `URI:${SPIFFE}` }).csrPem);
    assert.deepEqual(csr.key, { type: 'rsa', bits: 2048 });
    assert.equal(csr.signatureAlgorithm, 'sha256WithRSAEncryption');
    assert.deepEqual(csr.uriSans, [SPIFFE]);
  });

  it('accepts an ECDSA P-384 CSR signed with SHA-384 and a CSR without SANs', () => {
    const csr = parseCsr(opensslCsr(dir, NEW_KEY.p384, { digest: 'sha384' }).csrPem);
    assert.deepEqual(csr.key, { type: 'ec', curve: 'P-384' });
    assert.equal(csr.signatureAlgorithm, 'ecdsa-with-SHA384');
    assert.deepEqual(csr.uriSans, []);
  });

  it('refuses a 1024-bit RSA CSR with KEY_WEAK', () => {
    rejects(
      () => parseCsr(opensslCsr(dir, NEW_KEY.rsa1024).csrPem),
      'KEY_WEAK',
      /RSA key of 1024 bits is too weak; at least 2048/,
    );
  });

  it('refuses secp521r1 and secp256k1 CSRs with KEY_WEAK naming the curve', () => {
    rejects(() => parseCsr(opensslCsr(dir, NEW_KEY.p521).csrPem), 'KEY_WEAK', /curve secp521r1.*only P-256 and P-384/);
    rejects(() => parseCsr(opensslCsr(dir, NEW_KEY.secp256k1).csrPem), 'KEY_WEAK', /curve secp256k1/);
  });

  it('refuses an Ed25519 CSR with KEY_WEAK', () => {
    rejects(() => parseCsr(opensslCsr(dir, NEW_KEY.ed25519).csrPem), 'KEY_WEAK', /Ed25519 is not accepted/);
  });

  it('refuses a SHA-1 signed CSR with CSR_INVALID', () => {
    rejects(
      () => parseCsr(opensslCsr(dir, NEW_KEY.p256, { digest: 'sha1' }).csrPem),
      'CSR_INVALID',
      /ecdsa-with-SHA1.*not supported/,
    );
  });

  it('refuses garbage with CSR_INVALID', () => {
    rejects(() => parseCsr(''), 'CSR_INVALID', /empty/);
    rejects(() => parseCsr('hello'), 'CSR_INVALID', /found no PEM block/);
    rejects(
      () => parseCsr('-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n'),
      'CSR_INVALID',
      /not valid PEM/,
    );
    rejects(
      () => parseCsr(encodePem('CERTIFICATE REQUEST', Buffer.from('not der at all'))),
      'CSR_INVALID',
      /not a valid PKCS#10/,
    );
    rejects(
      () => parseCsr(encodePem('CERTIFICATE REQUEST', Buffer.from([0x30, 0x00]))),
      'CSR_INVALID',
      /not a valid PKCS#10/,
    );
  });

  it('refuses a certificate, trailing bytes and two CSRs with CSR_INVALID', () => {
    dir.openssl([
      'req',
      '-x509',
      ...NEW_KEY.p256,
      '-nodes',
      '-keyout',
      'self.key',
      '-out',
      'self.pem',
      '-subj',
      '/O=x',
      '-days',
      '1',
    ]);
    rejects(() => parseCsr(dir.read('self.pem')), 'CSR_INVALID', /found only CERTIFICATE/);
    const { csrPem } = opensslCsr(dir, NEW_KEY.p256);
    rejects(
      () => parseCsr(encodePem('CERTIFICATE REQUEST', Buffer.concat([derOf(csrPem), Buffer.from([0])]))),
      'CSR_INVALID',
      /trailing bytes/,
    );
    rejects(() => parseCsr(csrPem + csrPem), 'CSR_INVALID', /2 certificate requests/);
  });

  it('refuses a CSR whose signature was tampered with (CSR_INVALID)', () => {
    for (const key of [NEW_KEY.p256, NEW_KEY.rsa2048]) {
      const der = derOf(opensslCsr(dir, key).csrPem);
      der[der.length - 3]! ^= 0x01; // inside the signature BIT STRING
      rejects(() => parseCsr(encodePem('CERTIFICATE REQUEST', der)), 'CSR_INVALID', /does not verify/);
    }
  });

  it('refuses a CSR whose requested SAN was altered after signing (CSR_INVALID)', () => {
    const der = derOf(opensslCsr(dir, NEW_KEY.p256, { san: `URI:${SPIFFE}` }).csrPem);
    const at = der.indexOf(Buffer.from('sa/b'));
    der[at + 3] = 'c'.charCodeAt(0);
    rejects(() => parseCsr(encodePem('CERTIFICATE REQUEST', der)), 'CSR_INVALID', /does not verify/);
  });
});

describe('checkCsrIdentity', () => {
  let dir: Workdir;
  before(() => {
    dir = workdir();
  });
  after(() => dir.dispose());

  it('accepts a CSR asking for the authenticated identity or for no URI at all', () => {
    checkCsrIdentity({
      csr: parseCsr(opensslCsr(dir, NEW_KEY.p256, { san: `URI:${SPIFFE}` }).csrPem),
      spiffeId: SPIFFE,
    });
    checkCsrIdentity({ csr: parseCsr(opensslCsr(dir, NEW_KEY.p256, { san: 'DNS:b.a.svc' }).csrPem), spiffeId: SPIFFE });
  });

  it('refuses a CSR asking for another identity with SAN_MISMATCH naming both', () => {
    const csr = parseCsr(
      opensslCsr(dir, NEW_KEY.p256, { san: 'URI:spiffe://cluster.local/ns/kube-system/sa/admin' }).csrPem,
    );
    rejects(
      () => checkCsrIdentity({ csr, spiffeId: SPIFFE }),
      'SAN_MISMATCH',
      /requests URI SAN "spiffe:\/\/cluster.local\/ns\/kube-system\/sa\/admin" but the caller is authenticated as "spiffe:\/\/cluster.local\/ns\/a\/sa\/b"/,
    );
  });
});
