import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import {
  createIntermediateCa,
  createRootCa,
  issueWorkloadCertificate,
  loadSigningAuthority,
  type SigningAuthority,
} from '#libs/pki';
import type { IdentitySnapshot, IdentitySource } from '../identity/types';

/** A throwaway mesh CA for data-plane tests: root + intermediate, issuing SPIFFE leaf certificates. */
export class TestMeshCa {
  readonly rootPem: string;
  private readonly issuer: SigningAuthority;

  constructor() {
    const now = new Date();
    const root = createRootCa({ keyType: 'ecdsa-p256', commonName: 'test root', organization: 'cluster.local', now });
    const rootAuthority = loadSigningAuthority(root.certPem, root.privateKey, []);
    const intermediate = createIntermediateCa({
      parent: rootAuthority,
      keyType: 'ecdsa-p256',
      commonName: 'test intermediate',
      ttlSeconds: 86_400,
      now,
    });
    this.rootPem = root.certPem;
    this.issuer = loadSigningAuthority(intermediate.certPem, intermediate.privateKey, intermediate.chainPem);
  }

  /** A fresh key and certificate for `spiffe://cluster.local/ns/<ns>/sa/<sa>`. */
  issue(namespace: string, serviceAccount: string): IdentitySnapshot {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spiffeId = `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`;
    const issued = issueWorkloadCertificate({
      csrPublicKey: publicKey,
      spiffeId,
      ttlSeconds: 3600,
      now: new Date(),
      issuer: this.issuer,
    });
    const leaf = new X509Certificate(issued.certPem);
    return {
      certificate: {
        spiffeId,
        chainPem: [issued.certPem, ...issued.chainPem.slice(0, -1)].join(''),
        keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        serial: issued.serialHex,
        notBefore: issued.notBefore,
        notAfter: issued.notAfter,
        fingerprint256: createHash('sha256').update(leaf.raw).digest('hex'),
      },
      rootsPem: [this.rootPem],
    };
  }
}

/** An IdentitySource holding a snapshot the test sets, with a deny list the test edits. */
export class StaticIdentity implements IdentitySource {
  private readonly changeListeners = new Set<(snapshot: IdentitySnapshot) => void>();
  private readonly revocationListeners = new Set<(serials: readonly string[]) => void>();
  private readonly denied = new Set<string>();

  constructor(private snapshot: IdentitySnapshot | undefined) {}

  current(): IdentitySnapshot | undefined {
    return this.snapshot;
  }

  set(snapshot: IdentitySnapshot): void {
    this.snapshot = snapshot;
    for (const listener of this.changeListeners) listener(snapshot);
  }

  revoke(serial: string): void {
    this.denied.add(serial);
    for (const listener of this.revocationListeners) listener([serial]);
  }

  onChange(listener: (snapshot: IdentitySnapshot) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  isRevoked(serial: string): boolean {
    return this.denied.has(serial);
  }

  onRevocation(listener: (serials: readonly string[]) => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  trustDomain(): string | undefined {
    return this.snapshot ? 'cluster.local' : undefined;
  }
}
