import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import {
  type CaKeyType,
  createIntermediateCa,
  createRootCa,
  issueWorkloadCertificate,
  loadSigningAuthority,
} from '#libs/pki';

/** Single-core, in-process reference rates for one CA key type (operations per second). */
export interface Baseline {
  keyType: CaKeyType;
  /** `crypto.sign('sha256', tbs-sized buffer, caKey)`: the floor no CA can beat per core. */
  rawSignPerSecond: number;
  /** libs/pki `issueWorkloadCertificate` (build TBS, sign, verify the chain): Citadel minus I/O. */
  issuePerSecond: number;
}

/** Runs `fn` for about `seconds` after a short warm-up and returns calls per second. */
export function rate(fn: () => void, seconds: number): number {
  for (let i = 0; i < 50; i++) fn();
  const budget = BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let calls = 0;
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 20; i++) fn();
    calls += 20;
    elapsed = process.hrtime.bigint() - start;
  }
  return calls / (Number(elapsed) / 1e9);
}

/** Measures both reference rates for `keyType` on the calling thread (one core). */
export function measureBaseline(keyType: CaKeyType, seconds = 2): Baseline {
  const now = new Date();
  const rootCa = createRootCa({ keyType, commonName: 'Bench Root', organization: 'cluster.local', now });
  const root = loadSigningAuthority(rootCa.certPem, rootCa.privateKey, []);
  const inter = createIntermediateCa({ parent: root, keyType, commonName: 'Bench Citadel', ttlSeconds: 86_400, now });
  const issuer = loadSigningAuthority(inter.certPem, inter.privateKey, inter.chainPem);
  const params = {
    csrPublicKey: detachedPublicKey(),
    spiffeId: 'spiffe://cluster.local/ns/bench/sa/bench',
    ttlSeconds: 3600,
    now,
    issuer,
  };
  const leafDer = Buffer.from(issueWorkloadCertificate(params).certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const tbsLike = randomBytes(tbsLength(leafDer));
  const caKey: KeyObject = issuer.privateKey;
  return {
    keyType,
    rawSignPerSecond: rate(() => sign('sha256', tbsLike, caKey), seconds),
    issuePerSecond: rate(() => issueWorkloadCertificate(params), seconds),
  };
}

/**
 * A P-256 public key re-imported from its DER, as a parsed CSR's key is. Node 20 can deadlock
 * when the garbage collector frees a `generateKeyPairSync` job while `export({ format: 'jwk' })`
 * (which libs/pki calls for every leaf) holds the same key's lock; a re-imported key shares no
 * state with the job.
 */
function detachedPublicKey(): KeyObject {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return createPublicKey({ key: publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' });
}

/** Length of the TBSCertificate, the first element inside a DER Certificate SEQUENCE. */
export function tbsLength(certificateDer: Buffer): number {
  const header = (offset: number): { headerBytes: number; length: number } => {
    const first = certificateDer[offset + 1];
    if (first < 0x80) return { headerBytes: 2, length: first };
    const n = first & 0x7f;
    return { headerBytes: 2 + n, length: certificateDer.readUIntBE(offset + 2, n) };
  };
  const outer = header(0);
  const tbs = header(outer.headerBytes);
  return tbs.headerBytes + tbs.length;
}
