import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadSigningAuthority } from './authority';
import { createIntermediateCa, createRootCa } from './ca';
import { issueWorkloadCertificate } from './certificate';
import { PkiError } from './errors';
import { splitPemCertificates } from './pem';
import { NEW_KEY, workdir, type Workdir } from './testing/openssl';

const SPIFFE = 'spiffe://cluster.local/ns/default/sa/sleep';

function caInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PkiError, `expected PkiError, got ${String(error)}`);
    assert.equal(error.reason, 'CA_INVALID', error.message);
    assert.match(error.message, message);
    return true;
  });
}

const OPENSSL_CA_CONFIG = `
[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[root_pathlen0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[inter]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[no_certsign]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[no_keyusage]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** Istio `cacerts`-style material made by the real openssl CLI. */
function opensslRoot(dir: Workdir, name: string, section = 'root', key: readonly string[] = NEW_KEY.rsa2048): void {
  dir.openssl([
    'req',
    '-x509',
    '-new',
    '-config',
    'ca.cnf',
    '-extensions',
    section,
    ...key,
    '-nodes',
    '-keyout',
    `${name}-key.pem`,
    '-out',
    `${name}-cert.pem`,
    '-subj',
    `/O=Istio/CN=${name}`,
    '-days',
    '3650',
  ]);
}

function opensslIntermediate(dir: Workdir, name: string, parent: string, section = 'inter'): void {
  dir.openssl([
    'req',
    '-new',
    '-config',
    'ca.cnf',
    ...NEW_KEY.p256,
    '-nodes',
    '-keyout',
    `${name}-key.pem`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/O=Istio/CN=${name}`,
  ]);
  dir.openssl([
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${parent}-cert.pem`,
    '-CAkey',
    `${parent}-key.pem`,
    '-set_serial',
    '0x1234',
    '-days',
    '730',
    '-extfile',
    'ca.cnf',
    '-extensions',
    section,
    '-out',
    `${name}-cert.pem`,
  ]);
}

describe('loadSigningAuthority', () => {
  let dir: Workdir;
  before(() => {
    dir = workdir();
    dir.write('ca.cnf', OPENSSL_CA_CONFIG);
    opensslRoot(dir, 'root');
  });
  after(() => dir.dispose());

  it('loads an openssl-made plug-in CA (Istio cacerts) and issues leaves openssl verifies', () => {
    opensslIntermediate(dir, 'ca', 'root');
    const bundle = dir.read('ca-cert.pem') + dir.read('root-cert.pem'); // cert-chain.pem starts with ca-cert itself
    const authority = loadSigningAuthority(
      dir.read('ca-cert.pem'),
      createPrivateKey(dir.read('ca-key.pem')),
      splitPemCertificates(bundle),
    );
    assert.equal(authority.chainPem.length, 1);
    assert.deepEqual(authority.key, { type: 'ec', curve: 'P-256' });
    assert.equal(authority.pathLen, 0);
    const leaf = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    const issued = issueWorkloadCertificate({
      csrPublicKey: leaf,
      spiffeId: SPIFFE,
      ttlSeconds: 3600,
      now: new Date(),
      issuer: authority,
    });
    dir.write('leaf.pem', issued.certPem);
    assert.equal(
      dir
        .openssl(['verify', '-x509_strict', '-CAfile', 'root-cert.pem', '-untrusted', 'ca-cert.pem', 'leaf.pem'])
        .trim(),
      'leaf.pem: OK',
    );
  });

  it('rejects a private key that does not match the certificate', () => {
    const root = createRootCa({ keyType: 'ecdsa-p256', commonName: 'Root', organization: 'td', now: new Date() });
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    caInvalid(
      () => loadSigningAuthority(root.certPem, other, []),
      /CA private key does not match the public key of the CA certificate \(subject "O=td, CN=Root"/,
    );
    caInvalid(
      () => loadSigningAuthority(root.certPem, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey, []),
      /not a private KeyObject/,
    );
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    caInvalid(
      () => loadSigningAuthority(root.certPem, weak, []),
      /CA private key cannot sign: RSA key of 1024 bits is too weak/,
    );
  });

  it('rejects a certificate that is not a CA', () => {
    const now = new Date();
    const rootCa = createRootCa({ keyType: 'ecdsa-p256', commonName: 'Root', organization: 'td', now });
    const root = loadSigningAuthority(rootCa.certPem, rootCa.privateKey, []);
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const leaf = issueWorkloadCertificate({
      csrPublicKey: publicKey,
      spiffeId: SPIFFE,
      ttlSeconds: 3600,
      now,
      issuer: root,
    });
    caInvalid(
      () => loadSigningAuthority(leaf.certPem, privateKey, leaf.chainPem),
      /CA certificate \(subject "\(empty\)", serial [0-9A-F]+\) is not a CA: basicConstraints CA:TRUE is missing/,
    );
  });

  it('rejects a CA certificate without keyCertSign, or without keyUsage', () => {
    opensslIntermediate(dir, 'nocs', 'root', 'no_certsign');
    caInvalid(
      () =>
        loadSigningAuthority(dir.read('nocs-cert.pem'), createPrivateKey(dir.read('nocs-key.pem')), [
          dir.read('root-cert.pem'),
        ]),
      /CA certificate \(subject "O=Istio, CN=nocs".*keyUsage lacks keyCertSign/,
    );
    opensslIntermediate(dir, 'noku', 'root', 'no_keyusage');
    caInvalid(
      () =>
        loadSigningAuthority(dir.read('noku-cert.pem'), createPrivateKey(dir.read('noku-key.pem')), [
          dir.read('root-cert.pem'),
        ]),
      /has no keyUsage extension; keyCertSign is required/,
    );
  });

  it('rejects a broken chain, naming the link', () => {
    const now = new Date();
    const rootA = createRootCa({ keyType: 'ecdsa-p256', commonName: 'Root A', organization: 'td', now });
    const rootB = createRootCa({ keyType: 'ecdsa-p256', commonName: 'Root B', organization: 'td', now });
    const rootA2 = createRootCa({ keyType: 'ecdsa-p256', commonName: 'Root A', organization: 'td', now }); // same name, other key
    const inter = createIntermediateCa({
      parent: loadSigningAuthority(rootA.certPem, rootA.privateKey, []),
      keyType: 'ecdsa-p256',
      commonName: 'Citadel',
      ttlSeconds: 3600,
      now,
    });
    caInvalid(
      () => loadSigningAuthority(inter.certPem, inter.privateKey, [rootB.certPem]),
      /chainPem\[0\] \(subject "O=td, CN=Root B".*\) did not issue CA certificate \(subject "CN=Citadel".*its issuer name "O=td, CN=Root A" is not the subject name/,
    );
    caInvalid(
      () => loadSigningAuthority(inter.certPem, inter.privateKey, [rootA2.certPem]),
      /chainPem\[0\] .* did not issue CA certificate .*authority key identifier/,
    );
    caInvalid(
      () => loadSigningAuthority(inter.certPem, inter.privateKey, []),
      /CA certificate \(subject "CN=Citadel".*is the last certificate but is not a self-signed root/,
    );
    caInvalid(
      () => loadSigningAuthority(inter.certPem, inter.privateKey, [rootA.certPem, rootB.certPem]),
      /chainPem\[1\] .*CN=Root B.* did not issue chainPem\[0\]/,
    );
  });

  it('enforces path length constraints', () => {
    opensslRoot(dir, 'short', 'root_pathlen0', NEW_KEY.p256);
    opensslIntermediate(dir, 'deep', 'short');
    caInvalid(
      () =>
        loadSigningAuthority(dir.read('deep-cert.pem'), createPrivateKey(dir.read('deep-key.pem')), [
          dir.read('short-cert.pem'),
        ]),
      /chainPem\[0\] \(subject "O=Istio, CN=short".*has pathLenConstraint 0 but 1 CA certificate\(s\) chain below it/,
    );
    const now = new Date();
    const root = createRootCa({ keyType: 'ecdsa-p256', commonName: 'Root', organization: 'td', now });
    const inter = createIntermediateCa({
      parent: loadSigningAuthority(root.certPem, root.privateKey, []),
      keyType: 'ecdsa-p256',
      commonName: 'I',
      ttlSeconds: 3600,
      now,
    });
    const parent = loadSigningAuthority(inter.certPem, inter.privateKey, inter.chainPem);
    caInvalid(
      () => createIntermediateCa({ parent, keyType: 'ecdsa-p256', commonName: 'II', ttlSeconds: 60, now }),
      /pathLenConstraint 0 and cannot sign another CA/,
    );
  });

  it('rejects PEM that is not exactly one certificate', () => {
    const root = createRootCa({ keyType: 'ecdsa-p256', commonName: 'Root', organization: 'td', now: new Date() });
    caInvalid(
      () => loadSigningAuthority('not a pem', root.privateKey, []),
      /CA certificate must hold exactly one PEM CERTIFICATE, found 0/,
    );
    caInvalid(
      () => loadSigningAuthority(root.certPem, root.privateKey, [root.certPem + root.certPem]),
      /chainPem\[0\] must hold exactly one PEM CERTIFICATE, found 2/,
    );
    const garbage = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    caInvalid(
      () => loadSigningAuthority(garbage, root.privateKey, []),
      /CA certificate is not a valid X.509 certificate/,
    );
  });

  it('accepts Istio-style chains that repeat the CA certificate first', () => {
    const root = createRootCa({ keyType: 'rsa-2048', commonName: 'Root', organization: 'td', now: new Date() });
    const authority = loadSigningAuthority(root.certPem, root.privateKey, [root.certPem]);
    assert.deepEqual(authority.chainPem, []);
    assert.deepEqual(authority.key, { type: 'rsa', bits: 2048 });
    assert.equal(authority.pathLen, undefined);
  });
});
