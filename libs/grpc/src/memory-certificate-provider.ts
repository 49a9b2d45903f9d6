import type { experimental } from '@grpc/grpc-js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * A gRPC certificate provider fed from memory: a server or channel built on it picks up a new
 * certificate or trust bundle on the next handshake, without restarting. The private key is
 * held only in this process.
 */
export class MemoryCertificateProvider implements experimental.CertificateProvider {
  private ca: experimental.CaCertificateUpdate | null = null;
  private identity: experimental.IdentityCertificateUpdate | null = null;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  /** Replaces the trusted roots (PEM, concatenated). */
  setTrustBundle(pem: string): void {
    this.ca = { caCertificate: Buffer.from(pem) };
    for (const listener of this.caListeners) listener(this.ca);
  }

  /** Replaces the served certificate chain (leaf first, PEM) and its private key (PEM). */
  setIdentity(certChainPem: string, privateKeyPem: string): void {
    this.identity = { certificate: Buffer.from(certChainPem), privateKey: Buffer.from(privateKeyPem) };
    for (const listener of this.identityListeners) listener(this.identity);
  }

  // The current value is delivered on the next microtask, not synchronously: grpc-js registers
  // its own watcher only after adding the listener, and would miss a synchronous first update.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => this.ca && this.caListeners.has(listener) && listener(this.ca));
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => this.identity && this.identityListeners.has(listener) && listener(this.identity));
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}
