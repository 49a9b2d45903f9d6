import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createIntermediateCa, createRootCa, issueWorkloadCertificate, loadSigningAuthority } from '#libs/pki';
import { normalizeSerial, parseIssuedChain } from './certificate';
import { ProxyError } from './errors';

const SPIFFE_ID = 'spiffe://cluster.local/ns/shop/sa/cart';

/** A root, an intermediate under it, and a workload certificate for a fresh P-256 key: Citadel's chain. */
function issue() {
  const now = new Date();
  const root = createRootCa({ keyType: 'ecdsa-p256', commonName: 'root', organization: 'cluster.local', now });
  const rootAuthority = loadSigningAuthority(root.certPem, root.privateKey, []);
  const intermediate = createIntermediateCa({
    parent: rootAuthority,
    keyType: 'ecdsa-p256',
    commonName: 'ica',
    ttlSeconds: 86_400,
    now,
  });
  const signer = loadSigningAuthority(intermediate.certPem, intermediate.privateKey, intermediate.chainPem);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const issued = issueWorkloadCertificate({
    csrPublicKey: publicKey,
    spiffeId: SPIFFE_ID,
    ttlSeconds: 3600,
    now,
    issuer: signer,
  });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certChain: [issued.certPem, ...issued.chainPem], issued, publicKey, keyPem, root, intermediate };
}

describe('parseIssuedChain', () => {
  it('keeps the leaf and intermediates, drops the root, and reads serial, validity, fingerprint and SPIFFE ID', () => {
    const { certChain, issued, publicKey, keyPem, intermediate } = issue();
    assert.equal(certChain.length, 3);
    const certificate = parseIssuedChain({ certChain, publicKey, keyPem });
    assert.equal(certificate.chainPem, issued.certPem + intermediate.certPem);
    assert.equal(certificate.spiffeId, SPIFFE_ID);
    assert.equal(certificate.serial, issued.serialHex, "Citadel's serial format: uppercase hex");
    assert.equal(certificate.notBefore.getTime(), issued.notBefore.getTime());
    assert.equal(certificate.notAfter.getTime(), issued.notAfter.getTime());
    assert.equal(certificate.fingerprint256, issued.fingerprintSha256.replace(/:/g, '').toLowerCase());
    assert.match(certificate.fingerprint256, /^[0-9a-f]{64}$/);
    assert.equal(certificate.keyPem, keyPem);
  });

  it('accepts the whole chain in one element', () => {
    const { certChain, publicKey, keyPem } = issue();
    const certificate = parseIssuedChain({ certChain: [certChain.join('')], publicKey, keyPem });
    assert.equal(certificate.chainPem, certChain[0]! + certChain[1]!);
  });

  it('refuses an empty chain, garbage, and a certificate for another key', () => {
    const { certChain, keyPem } = issue();
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    assert.throws(() => parseIssuedChain({ certChain: [], publicKey: other, keyPem }), ProxyError);
    assert.throws(
      () =>
        parseIssuedChain({
          certChain: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
          publicKey: other,
          keyPem,
        }),
      ProxyError,
    );
    assert.throws(() => parseIssuedChain({ certChain, publicKey: other, keyPem }), /does not certify the key/);
  });
});

describe('normalizeSerial', () => {
  it("compares serials in Citadel's form: uppercase, leading zero bytes dropped", () => {
    assert.equal(normalizeSerial('0a1b'), '0A1B');
    assert.equal(normalizeSerial('00ff'), 'FF');
    assert.equal(normalizeSerial('abc'), '0ABC');
    assert.equal(normalizeSerial('00'), '00');
    const { issued } = issue();
    const x509 = new X509Certificate(issued.certPem);
    assert.equal(normalizeSerial(x509.serialNumber.toLowerCase()), x509.serialNumber);
  });
});
