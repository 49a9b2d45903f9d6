import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createIntermediateCa, createRootCa } from './ca';
import { loadSigningAuthority } from './authority';
import { createCrl } from './crl';
import { workdir } from './testing/openssl';

describe('createCrl', () => {
  const dir = workdir();
  after(() => dir.dispose());
  const now = new Date();

  for (const keyType of ['rsa-2048', 'ecdsa-p256'] as const) {
    it(`makes a ${keyType} CRL that openssl verifies and that lists the revoked serials with reasons`, () => {
      const root = createRootCa({ keyType, commonName: 'Root', organization: 'cluster.local', now });
      const rootAuthority = loadSigningAuthority(root.certPem, root.privateKey, []);
      const intermediate = createIntermediateCa({
        parent: rootAuthority,
        keyType,
        commonName: 'Intermediate',
        ttlSeconds: 86_400,
        now,
      });
      const issuer = loadSigningAuthority(intermediate.certPem, intermediate.privateKey, [root.certPem]);
      const { der, pem } = createCrl({
        issuer,
        revoked: [
          { serialHex: '5EADBEEF00112233445566778899AABB', revokedAt: now, reason: 'keyCompromise' },
          { serialHex: '7F', revokedAt: now, reason: 'superseded' },
        ],
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + 3_600_000),
        crlNumber: 42n,
      });
      assert.ok(der.length > 100);
      dir.write(`${keyType}-ca.pem`, intermediate.certPem + root.certPem);
      dir.write(`${keyType}.crl`, pem);
      const text = dir.openssl(['crl', '-in', `${keyType}.crl`, '-CAfile', `${keyType}-ca.pem`, '-noout', '-text']);
      assert.match(text, /Serial Number: 5EADBEEF00112233445566778899AABB/);
      assert.match(text, /Key Compromise/);
      assert.match(text, /Serial Number: 7F/);
      assert.match(text, /Superseded/);
      assert.match(text, /X509v3 CRL Number:\s+42/);
    });
  }
});
