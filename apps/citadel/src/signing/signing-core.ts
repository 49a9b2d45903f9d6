import type { KeyObject } from 'node:crypto';
import { checkCsrIdentity, issueWorkloadCertificate, parseCsr, type SigningAuthority } from '#libs/pki';
import type { IssuedWire } from './signing-protocol';

/** What to issue: a workload's CSR (checked against `spiffeId`) or a key Citadel holds. */
export interface IssueOrder {
  csrPem?: string;
  publicKey?: KeyObject;
  spiffeId: string;
  ttlSeconds: number;
  nowMs: number;
  dnsNames?: string[];
  ipAddresses?: string[];
}

/**
 * The CPU-bound part of issuance, identical on a worker thread and on the main thread: parse
 * and check the CSR, build, sign and verify the certificate. Throws PkiError.
 */
export function issueOrder(signer: SigningAuthority, order: IssueOrder): IssuedWire {
  let publicKey = order.publicKey;
  if (order.csrPem !== undefined) {
    const csr = parseCsr(order.csrPem);
    checkCsrIdentity({ csr, spiffeId: order.spiffeId });
    publicKey = csr.publicKey;
  }
  if (!publicKey) throw new TypeError('an order needs a CSR or a public key');
  const issued = issueWorkloadCertificate({
    csrPublicKey: publicKey,
    spiffeId: order.spiffeId,
    ttlSeconds: order.ttlSeconds,
    now: new Date(order.nowMs),
    issuer: signer,
    dnsNames: order.dnsNames,
    ipAddresses: order.ipAddresses,
  });
  return {
    certPem: issued.certPem,
    chainPem: [...issued.chainPem],
    serialHex: issued.serialHex,
    notBeforeMs: issued.notBefore.getTime(),
    notAfterMs: issued.notAfter.getTime(),
    fingerprintSha256: issued.fingerprintSha256,
  };
}
