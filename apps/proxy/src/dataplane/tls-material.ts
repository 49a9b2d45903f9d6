import { createHash, type X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import type { IdentitySnapshot, IdentitySource } from '../identity/types';

/** ALPN protocols a sidecar offers and accepts between proxies. */
export const MESH_ALPN = ['h2', 'http/1.1'];

/** Who is on the other end of an mTLS connection. */
export interface PeerIdentity {
  /** `spiffe://...` from the peer certificate's URI SAN. */
  readonly spiffeId: string;
  /** SHA-256 of the peer certificate's DER, lower-case hex (XFCC `Hash`). */
  readonly hash: string;
  /** As `X509Certificate.serialNumber` prints it (Citadel's format). */
  readonly serial: string;
}

/**
 * The TLS side of the current identity: one server SecureContext and one client SecureContext,
 * rebuilt on every certificate or trust-bundle change (so a renewal or a root rotation applies
 * to the next handshake, and connections already open keep going).
 */
export class TlsMaterial {
  private generation = 0;
  private server?: SecureContext;
  private client?: SecureContext;
  private snapshot?: IdentitySnapshot;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly identity: IdentitySource) {
    const current = identity.current();
    if (current) this.update(current);
    identity.onChange((next) => this.update(next));
  }

  /** Increases on every change; upstream pools keyed by it are retired when it moves. */
  get version(): number {
    return this.generation;
  }

  get ready(): boolean {
    return this.server !== undefined;
  }

  /** Our own SPIFFE ID (XFCC `By`), or undefined before the first certificate. */
  get spiffeId(): string | undefined {
    return this.snapshot?.certificate.spiffeId;
  }

  serverContext(): SecureContext {
    if (!this.server) throw new Error('no workload certificate yet');
    return this.server;
  }

  /** Key, chain and roots for `tls.Server#setSecureContext`. */
  serverOptions(): { key: string; cert: string; ca: string[]; minVersion: 'TLSv1.2' } {
    const snapshot = this.snapshot;
    if (!snapshot) throw new Error('no workload certificate yet');
    return {
      key: snapshot.certificate.keyPem,
      cert: snapshot.certificate.chainPem,
      ca: [...snapshot.rootsPem],
      minVersion: 'TLSv1.2',
    };
  }

  clientContext(): SecureContext {
    if (!this.client) throw new Error('no workload certificate yet');
    return this.client;
  }

  isRevoked(serial: string): boolean {
    return this.identity.isRevoked(serial);
  }

  /** Deny-list additions from Citadel (open connections to or from those serials must close). */
  onRevocation(listener: (serials: readonly string[]) => void): () => void {
    return this.identity.onRevocation(listener);
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private update(snapshot: IdentitySnapshot): void {
    const options = {
      key: snapshot.certificate.keyPem,
      cert: snapshot.certificate.chainPem,
      ca: [...snapshot.rootsPem],
      minVersion: 'TLSv1.2' as const,
    };
    this.server = createSecureContext(options);
    this.client = createSecureContext(options);
    this.snapshot = snapshot;
    this.generation += 1;
    for (const listener of this.listeners) listener();
  }
}

/** The SPIFFE ID, hash and serial of the verified peer of `socket`, or undefined without one. */
export function peerIdentity(socket: TLSSocket): PeerIdentity | undefined {
  const cert = socket.getPeerX509Certificate();
  if (!cert) return undefined;
  const spiffeId = spiffeIdOf(cert);
  if (!spiffeId) return undefined;
  return { spiffeId, hash: createHash('sha256').update(cert.raw).digest('hex'), serial: cert.serialNumber };
}

/** The URI SAN starting with `spiffe://`, from an X509Certificate or a legacy PeerCertificate. */
export function spiffeIdOf(cert: X509Certificate | PeerCertificate): string | undefined {
  const san = 'subjectaltname' in cert ? cert.subjectaltname : (cert as X509Certificate).subjectAltName;
  if (!san) return undefined;
  for (const entry of san.split(', ')) {
    if (entry.startsWith('URI:spiffe://')) return entry.slice(4);
  }
  return undefined;
}

/** Trust domain of a SPIFFE ID (`cluster.local` of `spiffe://cluster.local/ns/a/sa/b`). */
export function trustDomainOf(spiffeId: string): string {
  return spiffeId.slice('spiffe://'.length).split('/')[0];
}

/** `ns` and `sa` of a SPIFFE ID in Istio's shape, or undefined. */
export function workloadOf(spiffeId: string): { namespace: string; serviceAccount: string } | undefined {
  const match = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(spiffeId);
  return match ? { namespace: match[1], serviceAccount: match[2] } : undefined;
}
