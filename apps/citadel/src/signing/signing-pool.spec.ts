import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createIntermediateCa, createRootCa, isPkiError, loadSigningAuthority, type SigningAuthority } from '#libs/pki';
import { newCsr } from '#libs/testing';
import type { CitadelConfig } from '../config';
import type { CertificateAuthority } from '../keys/certificate-authority';
import { SigningPool } from './signing-pool';

const NOW = Date.now();

/** A fresh root and signing intermediate, in memory. */
function newSigner(commonName: string): SigningAuthority {
  const now = new Date(NOW);
  const rootCa = createRootCa({ keyType: 'ecdsa-p256', commonName, organization: 'cluster.local', now });
  const root = loadSigningAuthority(rootCa.certPem, rootCa.privateKey, []);
  const inter = createIntermediateCa({ parent: root, keyType: 'ecdsa-p256', commonName, ttlSeconds: 86_400, now });
  return loadSigningAuthority(inter.certPem, inter.privateKey, inter.chainPem);
}

/** The parts of CertificateAuthority the pool uses: the signer and change notifications. */
class FakeAuthority {
  private readonly listeners: (() => void)[] = [];
  constructor(public signer: SigningAuthority) {}
  onChange(listener: () => void): () => void {
    this.listeners.push(listener);
    return () => undefined;
  }
  replace(signer: SigningAuthority): void {
    this.signer = signer;
    for (const listener of this.listeners) listener();
  }
}

/**
 * Waits for `work` with the event loop held open: the pool unrefs its workers (they must not
 * keep Citadel alive), and in a test nothing else would wait for them.
 */
async function held<T>(work: Promise<T>): Promise<T> {
  const timer = setInterval(() => undefined, 1000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

describe('SigningPool', () => {
  let scratch: string;
  let csrs: string[];

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'bowline-signing-pool-'));
    csrs = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        newCsr({ keyFile: join(scratch, `${i}.key`), csrFile: join(scratch, `${i}.csr`), subject: '/O=pool' }),
      ),
    );
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  const start = (ca: FakeAuthority, signingWorkers: number) =>
    new SigningPool(ca as unknown as CertificateAuthority, { signingWorkers } as CitadelConfig);

  const order = (i: number, csrPem = csrs[i % csrs.length]) => ({
    csrPem,
    spiffeId: `spiffe://cluster.local/ns/pool/sa/wl-${i}`,
    ttlSeconds: 600,
    nowMs: NOW,
  });

  for (const workers of [0, 2]) {
    it(`answers every order of a burst with its own certificate, and a bad CSR alone with its error (${workers} workers)`, async () => {
      const ca = new FakeAuthority(newSigner('Pool CA'));
      const pool = start(ca, workers);
      try {
        const orders = Array.from({ length: 24 }, (_, i) => order(i, i === 7 ? 'not a CSR' : undefined));
        const results = await held(Promise.allSettled(orders.map((o) => pool.issue(o))));
        const serials = new Set<string>();
        results.forEach((result, i) => {
          if (i === 7) {
            assert.equal(result.status, 'rejected');
            assert.ok(isPkiError((result as PromiseRejectedResult).reason, 'CSR_INVALID'));
            return;
          }
          assert.equal(result.status, 'fulfilled', `order ${i}`);
          const issued = (result as PromiseFulfilledResult<Awaited<ReturnType<SigningPool['issue']>>>).value;
          const leaf = new X509Certificate(issued.certPem);
          assert.equal(leaf.subjectAltName, `URI:spiffe://cluster.local/ns/pool/sa/wl-${i}`);
          assert.ok(leaf.checkIssued(ca.signer.certificate));
          assert.equal(issued.serialHex, leaf.serialNumber);
          serials.add(issued.serialHex);
        });
        assert.equal(serials.size, 23);
      } finally {
        await pool.onModuleDestroy();
      }
    });
  }

  it('signs orders not yet handed to a worker with the new CA once it changes', async () => {
    const ca = new FakeAuthority(newSigner('Old CA'));
    const pool = start(ca, 2);
    try {
      const before = await held(pool.issue(order(0)));
      assert.ok(new X509Certificate(before.certPem).checkIssued(ca.signer.certificate));
      const inFlight = Array.from({ length: 8 }, (_, i) => pool.issue(order(i)));
      ca.replace(newSigner('New CA'));
      const later = Array.from({ length: 8 }, (_, i) => pool.issue(order(i)));
      for (const issued of await held(Promise.all([...inFlight, ...later]))) {
        assert.ok(new X509Certificate(issued.certPem).checkIssued(ca.signer.certificate));
        assert.equal(issued.chainPem[0], ca.signer.certPem);
      }
    } finally {
      await pool.onModuleDestroy();
    }
  });
});
