import { createHash, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import {
  createIntermediateCa,
  createRootCa,
  issueWorkloadCertificate,
  loadSigningAuthority,
  type CreatedCa,
  type IssuedCertificate,
  type SigningAuthority,
} from '#libs/pki';
import type { IdentitySnapshot, IdentitySource } from '../identity/types';

/** A leaf issued by `TestMeshCa.issueFor`, with its key pair. */
export interface TestLeaf {
  readonly issued: IssuedCertificate;
  /** Leaf, intermediate and root, as Citadel's CreateCertificate answers. */
  readonly certChain: string[];
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
  readonly keyPem: string;
}

/**
 * A throwaway mesh CA for the proxy's unit tests: a P-256 root and an intermediate (Citadel's
 * shape), issuing SPIFFE leaf certificates for fresh in-memory keys.
 */
export class TestMeshCa {
  readonly rootPem: string;
  readonly root: CreatedCa;
  readonly intermediate: CreatedCa;
  private readonly issuer: SigningAuthority;

  constructor() {
    const now = new Date();
    this.root = createRootCa({ keyType: 'ecdsa-p256', commonName: 'test root', organization: 'cluster.local', now });
    const rootAuthority = loadSigningAuthority(this.root.certPem, this.root.privateKey, []);
    this.intermediate = createIntermediateCa({
      parent: rootAuthority,
      keyType: 'ecdsa-p256',
      commonName: 'test intermediate',
      ttlSeconds: 86_400 * 30,
      now,
    });
    this.rootPem = this.root.certPem;
    this.issuer = loadSigningAuthority(
      this.intermediate.certPem,
      this.intermediate.privateKey,
      this.intermediate.chainPem,
    );
  }

  /** A fresh key pair and a leaf certificate for `spiffeId`. */
  issueFor(spiffeId: string, ttlSeconds = 3600): TestLeaf {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const issued = issueWorkloadCertificate({
      csrPublicKey: publicKey,
      spiffeId,
      ttlSeconds,
      now: new Date(),
      issuer: this.issuer,
    });
    return {
      issued,
      certChain: [issued.certPem, ...issued.chainPem],
      publicKey,
      privateKey,
      keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
  }

  /** An identity snapshot (key, chain without the root, roots) for `spiffe://cluster.local/ns/<ns>/sa/<sa>`. */
  issue(namespace: string, serviceAccount: string): IdentitySnapshot {
    const spiffeId = `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`;
    const { issued, keyPem } = this.issueFor(spiffeId);
    const leaf = new X509Certificate(issued.certPem);
    return {
      certificate: {
        spiffeId,
        chainPem: [issued.certPem, ...issued.chainPem.slice(0, -1)].join(''),
        keyPem,
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
