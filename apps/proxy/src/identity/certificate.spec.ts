import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { TestMeshCa } from '../testing/test-pki';
import { normalizeSerial, parseIssuedChain } from './certificate';
import { ProxyError } from './errors';

const SPIFFE_ID = 'spiffe://cluster.local/ns/shop/sa/cart';

/** A root, an intermediate under it, and a workload certificate for a fresh P-256 key: Citadel's chain. */
function issue() {
  const ca = new TestMeshCa();
  return { ...ca.issueFor(SPIFFE_ID), root: ca.root, intermediate: ca.intermediate };
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
