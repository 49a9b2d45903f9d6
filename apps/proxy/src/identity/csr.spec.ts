import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkCsrIdentity, encodePem, parseCsr } from '#libs/pki';
import { buildCsr } from './csr';

const SPIFFE_ID = 'spiffe://cluster.local/ns/shop/sa/cart';
const scratch = mkdtempSync(join(tmpdir(), 'bowline-proxy-csr-'));
let counter = 0;

/** Runs `openssl req -in <csr> ...args`; returns its exit status and output (stdout and stderr). */
function openssl(csrPem: string, ...args: string[]): { status: number | null; output: string } {
  const file = join(scratch, `${counter++}-csr.pem`);
  writeFileSync(file, csrPem);
  const result = spawnSync('openssl', ['req', '-in', file, ...args], { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

/** `openssl req -verify -noout`: the self-signature checks out (the message is what counts, see below). */
function assertVerifies(csrPem: string): void {
  const { status, output } = openssl(csrPem, '-verify', '-noout');
  assert.equal(status, 0, output);
  assert.match(output, /verify OK/);
}

function p256() {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

describe('buildCsr', () => {
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('builds a PKCS#10 request that openssl verifies: ecdsa-with-SHA256, empty subject, the SPIFFE ID as URI SAN', () => {
    const pem = buildCsr({ ...p256(), spiffeId: SPIFFE_ID });
    assert.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
    assertVerifies(pem);
    const text = openssl(pem, '-noout', '-text').output;
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text, /ASN1 OID: prime256v1/);
    assert.match(
      text,
      /Requested Extensions:\s+X509v3 Subject Alternative Name:\s+URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/,
    );
    assert.match(text, /Subject:\s*\n/);
  });

  it("passes libs/pki's parseCsr: our public key byte for byte, the requested SAN, P-256", () => {
    const { publicKey, privateKey } = p256();
    const csr = parseCsr(buildCsr({ publicKey, privateKey, spiffeId: SPIFFE_ID }));
    assert.deepEqual(csr.publicKeyDer, publicKey.export({ type: 'spki', format: 'der' }));
    assert.equal(csr.signatureAlgorithm, 'ecdsa-with-SHA256');
    assert.deepEqual(csr.uriSans, [SPIFFE_ID]);
    assert.deepEqual(csr.dnsSans, []);
    assert.deepEqual(csr.key, { type: 'ec', curve: 'P-256' });
    assert.deepEqual(csr.subjectDer, Buffer.from([0x30, 0x00]), 'the empty Name');
    checkCsrIdentity({ csr, spiffeId: SPIFFE_ID });
    assert.throws(() => checkCsrIdentity({ csr, spiffeId: 'spiffe://cluster.local/ns/shop/sa/other' }), /SAN/);
  });

  it('omits the extension request when no SPIFFE ID is given', () => {
    const pem = buildCsr(p256());
    assertVerifies(pem);
    assert.deepEqual(parseCsr(pem).uriSans, []);
  });

  it('is really checked: openssl and parseCsr refuse it once a byte of the signed part changes', () => {
    const pem = buildCsr({ ...p256(), spiffeId: SPIFFE_ID });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const at = der.indexOf(Buffer.from('/ns/shop/'));
    der[at + 4] = 'x'.charCodeAt(0); // shop -> sxop inside the requested SAN
    const tampered = encodePem('CERTIFICATE REQUEST', der);
    // OpenSSL 3.0 exits 0 even when the self-signature fails: only its message tells.
    const { output } = openssl(tampered, '-verify', '-noout');
    assert.match(output, /verify failure|did not match/);
    assert.doesNotMatch(output, /verify OK/);
    assert.throws(() => parseCsr(tampered), /does not verify/);
  });

  it('carries the public key only: the private scalar appears nowhere in the request', () => {
    const { publicKey, privateKey } = p256();
    const der = Buffer.from(
      buildCsr({ publicKey, privateKey, spiffeId: SPIFFE_ID }).replace(/-----[^-]+-----|\s/g, ''),
      'base64',
    );
    const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    assert.equal(der.indexOf(d), -1);
    assert.equal(der.indexOf(publicKey.export({ type: 'spki', format: 'der' })) >= 0, true);
  });

  it('refuses a non-EC key and a SAN that is not printable ASCII', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assert.throws(() => buildCsr(rsa), TypeError);
    assert.throws(() => buildCsr({ ...p256(), spiffeId: 'spiffe://cluster.local/ns/a b/sa/c' }), TypeError);
  });
});
