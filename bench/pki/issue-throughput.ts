/**
 * Quick single-core throughput check (not a test): RSA-2048-CA leaf issuance vs raw RSA-2048
 * signing. Build, then: `node dist/bench/pki/issue-throughput.js [iterations]`.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createIntermediateCa, createRootCa, issueWorkloadCertificate, loadSigningAuthority } from '#libs/pki';

function main(): void {
  const iterations = Number(process.argv[2] ?? 2000);
  const now = new Date();
  const rootCa = createRootCa({ keyType: 'rsa-2048', commonName: 'Bench Root', organization: 'cluster.local', now });
  const root = loadSigningAuthority(rootCa.certPem, rootCa.privateKey, []);
  const inter = createIntermediateCa({
    parent: root,
    keyType: 'rsa-2048',
    commonName: 'Bench Citadel',
    ttlSeconds: 86400 * 365,
    now,
  });
  const issuer = loadSigningAuthority(inter.certPem, inter.privateKey, inter.chainPem);
  const workloadKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
  const params = {
    csrPublicKey: workloadKey,
    spiffeId: 'spiffe://cluster.local/ns/bench/sa/bench',
    ttlSeconds: 86400,
    now,
    issuer,
  };
  const tbsSized = randomBytes(Buffer.byteLength(issueWorkloadCertificate(params).certPem) * 0.6);

  const measure = (label: string, fn: () => void): number => {
    for (let i = 0; i < 100; i++) fn(); // warm-up
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const rate = iterations / seconds;
    console.log(
      `${label.padEnd(34)} ${rate.toFixed(0).padStart(6)} /s  (${((seconds / iterations) * 1e6).toFixed(0)} µs each)`,
    );
    return rate;
  };
  const raw = measure('raw crypto.sign sha256 RSA-2048', () => sign('sha256', tbsSized, issuer.privateKey));
  const issued = measure('issueWorkloadCertificate', () => issueWorkloadCertificate(params));
  const raw2 = measure('raw crypto.sign (again)', () => sign('sha256', tbsSized, issuer.privateKey));
  console.log(`ratio raw/issue: ${((raw + raw2) / 2 / issued).toFixed(2)}x`);
}

main();
