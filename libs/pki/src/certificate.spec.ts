import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadSigningAuthority, type SigningAuthority } from './authority';
import { createIntermediateCa, createRootCa, type CaKeyType } from './ca';
import { issueWorkloadCertificate } from './certificate';
import { parseCsr } from './csr';
import { PkiError, type PkiErrorReason } from './errors';
import { NEW_KEY, opensslCsr, workdir, type Workdir } from './testing/openssl';

const SPIFFE = 'spiffe://cluster.local/ns/bookinfo/sa/reviews';
const DAY = 24 * 3600;

function rejects(fn: () => unknown, reason: PkiErrorReason, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PkiError, `expected PkiError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.match(error.message, message);
    return true;
  });
}

function makeChain(
  keyType: CaKeyType,
  now: Date,
  intermediateTtl = 365 * DAY,
): { root: SigningAuthority; intermediate: SigningAuthority } {
  const rootCa = createRootCa({ keyType, commonName: 'Bowline Root CA', organization: 'cluster.local', now });
  const root = loadSigningAuthority(rootCa.certPem, rootCa.privateKey, rootCa.chainPem);
  const inter = createIntermediateCa({
    parent: root,
    keyType,
    commonName: 'Bowline Citadel',
    ttlSeconds: intermediateTtl,
    now,
  });
  return { root, intermediate: loadSigningAuthority(inter.certPem, inter.privateKey, inter.chainPem) };
}

function ecKey() {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
}

describe('issueWorkloadCertificate', () => {
  let dir: Workdir;
  before(() => {
    dir = workdir();
  });
  after(() => dir.dispose());

  for (const keyType of ['rsa-2048', 'ecdsa-p256'] as const) {
    it(`issues chains that openssl verify accepts (${keyType} CA; P-256, P-384 and RSA-2048 workload keys)`, () => {
      const now = new Date();
      const { root, intermediate } = makeChain(keyType, now);
      dir.write('root.pem', root.certPem);
      dir.write('intermediate.pem', intermediate.certPem);
      for (const key of [NEW_KEY.p256, NEW_KEY.p384, NEW_KEY.rsa2048]) {
        const csr = parseCsr(opensslCsr(dir, key, { san: `URI:${SPIFFE}` }).csrPem);
        const issued = issueWorkloadCertificate({
          csrPublicKey: csr.publicKey,
          spiffeId: SPIFFE,
          ttlSeconds: DAY,
          now,
          issuer: intermediate,
        });
        assert.deepEqual(issued.chainPem, [intermediate.certPem, root.certPem]);
        dir.write('leaf.pem', issued.certPem);
        for (const purpose of ['sslserver', 'sslclient']) {
          const out = dir.openssl([
            'verify',
            '-x509_strict',
            '-purpose',
            purpose,
            '-CAfile',
            'root.pem',
            '-untrusted',
            'intermediate.pem',
            'leaf.pem',
          ]);
          assert.equal(out.trim(), 'leaf.pem: OK');
        }
      }
    });
  }

  it('writes the SPIFFE leaf profile (openssl x509 -ext)', () => {
    const now = new Date();
    const { intermediate } = makeChain('ecdsa-p256', now);
    const issued = issueWorkloadCertificate({
      csrPublicKey: ecKey(),
      spiffeId: SPIFFE,
      ttlSeconds: DAY,
      now,
      issuer: intermediate,
    });
    dir.write('profile.pem', issued.certPem);
    const ext = dir.openssl([
      'x509',
      '-in',
      'profile.pem',
      '-noout',
      '-ext',
      'subjectAltName,basicConstraints,keyUsage,extendedKeyUsage',
    ]);
    assert.match(
      ext,
      /X509v3 Subject Alternative Name: critical\n\s+URI:spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/reviews\n/,
    );
    assert.match(ext, /X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    assert.match(ext, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
    assert.match(ext, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
    const text = dir.openssl(['x509', '-in', 'profile.pem', '-noout', '-text']);
    assert.match(text, /Version: 3 \(0x2\)/);
    assert.match(text, /Subject: \n|Subject:\s*\n/);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    const aki = /Authority Key Identifier: \n\s+(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1];
    assert.equal(aki, intermediate.subjectKeyId.toString('hex').toUpperCase().match(/../g)!.join(':'));
    assert.match(text, /Subject Key Identifier: \n\s+[0-9A-F:]{59}\n/);
  });

  it('back-dates notBefore by the clock skew and honours the TTL', () => {
    const now = new Date('2030-06-01T12:00:00.750Z');
    const { intermediate } = makeChain('ecdsa-p256', new Date('2030-01-01T00:00:00Z'));
    const issued = issueWorkloadCertificate({
      csrPublicKey: ecKey(),
      spiffeId: SPIFFE,
      ttlSeconds: 3600,
      now,
      clockSkewSeconds: 30,
      issuer: intermediate,
    });
    assert.equal(issued.notBefore.toISOString(), '2030-06-01T11:59:30.000Z');
    assert.equal(issued.notAfter.toISOString(), '2030-06-01T13:00:00.000Z');
    const cert = new X509Certificate(issued.certPem);
    assert.equal(Date.parse(cert.validFrom), issued.notBefore.getTime());
    assert.equal(Date.parse(cert.validTo), issued.notAfter.getTime());
    assert.equal(cert.fingerprint256, issued.fingerprintSha256);
  });

  it("caps notAfter at the issuer's notAfter (and an intermediate at its root's)", () => {
    const now = new Date('2031-01-01T00:00:00Z');
    const { intermediate } = makeChain('ecdsa-p256', now, 3600);
    const issued = issueWorkloadCertificate({
      csrPublicKey: ecKey(),
      spiffeId: SPIFFE,
      ttlSeconds: 30 * DAY,
      now,
      issuer: intermediate,
    });
    assert.equal(issued.notAfter.getTime(), intermediate.notAfter.getTime());
    assert.equal(intermediate.notAfter.toISOString(), '2031-01-01T01:00:00.000Z');

    const root = makeChain('ecdsa-p256', now).root; // 10 years
    const long = createIntermediateCa({
      parent: root,
      keyType: 'ecdsa-p256',
      commonName: 'long',
      ttlSeconds: 50 * 365 * DAY,
      now,
    });
    assert.equal(Date.parse(new X509Certificate(long.certPem).validTo), root.notAfter.getTime());
  });

  it('issues random, positive, at most 128-bit, unique serials', () => {
    const now = new Date();
    const { intermediate } = makeChain('ecdsa-p256', now);
    const key = ecKey();
    const serials = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const issued = issueWorkloadCertificate({
        csrPublicKey: key,
        spiffeId: SPIFFE,
        ttlSeconds: DAY,
        now,
        issuer: intermediate,
      });
      assert.equal(new X509Certificate(issued.certPem).serialNumber, issued.serialHex);
      assert.ok(issued.serialHex.length <= 32 && /^[0-9A-F]+$/.test(issued.serialHex), issued.serialHex);
      const value = BigInt(`0x${issued.serialHex}`);
      assert.ok(value > 0n && value < 1n << 127n);
      serials.add(issued.serialHex);
    }
    assert.equal(serials.size, 500);
  });

  it('uses a caller-chosen serial', () => {
    const now = new Date();
    const { intermediate } = makeChain('ecdsa-p256', now);
    const issued = issueWorkloadCertificate({
      csrPublicKey: ecKey(),
      spiffeId: SPIFFE,
      ttlSeconds: DAY,
      now,
      issuer: intermediate,
      serial: Buffer.from('00ff01', 'hex'),
    });
    assert.equal(issued.serialHex, 'FF01');
    assert.throws(
      () =>
        issueWorkloadCertificate({
          csrPublicKey: ecKey(),
          spiffeId: SPIFFE,
          ttlSeconds: DAY,
          now,
          issuer: intermediate,
          serial: Buffer.alloc(4),
        }),
      RangeError,
    );
  });

  it('refuses bad TTLs with TTL_INVALID', () => {
    const now = new Date();
    const { intermediate } = makeChain('ecdsa-p256', now);
    for (const ttlSeconds of [0, -1, 1.5, Number.NaN, Infinity]) {
      rejects(
        () =>
          issueWorkloadCertificate({ csrPublicKey: ecKey(), spiffeId: SPIFFE, ttlSeconds, now, issuer: intermediate }),
        'TTL_INVALID',
        /ttlSeconds must be a positive whole number/,
      );
    }
    rejects(
      () =>
        issueWorkloadCertificate({
          csrPublicKey: ecKey(),
          spiffeId: SPIFFE,
          ttlSeconds: 1,
          clockSkewSeconds: -5,
          now,
          issuer: intermediate,
        }),
      'TTL_INVALID',
      /clockSkewSeconds/,
    );
  });

  it('refuses to issue from an expired or not-yet-valid issuer (CA_INVALID)', () => {
    const created = new Date('2032-01-01T00:00:00Z');
    const { intermediate } = makeChain('ecdsa-p256', created, 3600);
    const later = new Date('2032-01-01T02:00:00Z');
    rejects(
      () =>
        issueWorkloadCertificate({
          csrPublicKey: ecKey(),
          spiffeId: SPIFFE,
          ttlSeconds: 60,
          now: later,
          issuer: intermediate,
        }),
      'CA_INVALID',
      /expired at 2032-01-01T01:00:00.000Z/,
    );
    const earlier = new Date('2031-01-01T00:00:00Z');
    rejects(
      () =>
        issueWorkloadCertificate({
          csrPublicKey: ecKey(),
          spiffeId: SPIFFE,
          ttlSeconds: 60,
          now: earlier,
          issuer: intermediate,
        }),
      'CA_INVALID',
      /not valid until/,
    );
  });

  it('refuses invalid SPIFFE IDs and weak workload keys', () => {
    const now = new Date();
    const { intermediate } = makeChain('ecdsa-p256', now);
    rejects(
      () =>
        issueWorkloadCertificate({
          csrPublicKey: ecKey(),
          spiffeId: 'spiffe://cluster.local/ns/a',
          ttlSeconds: 60,
          now,
          issuer: intermediate,
        }),
      'SPIFFE_ID_INVALID',
      /path/,
    );
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    rejects(
      () =>
        issueWorkloadCertificate({ csrPublicKey: weak, spiffeId: SPIFFE, ttlSeconds: 60, now, issuer: intermediate }),
      'KEY_WEAK',
      /1024 bits/,
    );
  });

  it('never returns a certificate that fails verification (sign-then-verify)', () => {
    const now = new Date();
    const { intermediate } = makeChain('ecdsa-p256', now);
    const swapped: SigningAuthority = {
      ...intermediate,
      privateKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
    };
    rejects(
      () => issueWorkloadCertificate({ csrPublicKey: ecKey(), spiffeId: SPIFFE, ttlSeconds: 60, now, issuer: swapped }),
      'CA_INVALID',
      /freshly signed certificate failed verification: its signature does not verify/,
    );
  });
});
