/** The proxy's current workload certificate, as its listeners and upstream pools use it. */
export interface WorkloadCertificate {
  /** `spiffe://<td>/ns/<ns>/sa/<sa>` from the issued certificate's URI SAN. */
  readonly spiffeId: string;
  /** Leaf first, then the intermediates (PEM). */
  readonly chainPem: string;
  /** The in-memory private key (PKCS#8 PEM); never written to disk, logged or sent. */
  readonly keyPem: string;
  /** Serial of the leaf as `X509Certificate.serialNumber` prints it (uppercase hex): Citadel's format. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the leaf's DER, lower-case hex (XFCC `By` side uses the URI; `Hash` is the peer's). */
  readonly fingerprint256: string;
}

/** What the identity manager publishes; listeners rebuild their SecureContext on every change. */
export interface IdentitySnapshot {
  readonly certificate: WorkloadCertificate;
  /** Trusted roots (PEM, one string per root), old and new during a root rotation. */
  readonly rootsPem: readonly string[];
}

/** Read side of the identity manager that the data plane and admin API depend on. */
export interface IdentitySource {
  /** Undefined until the first certificate is issued. */
  current(): IdentitySnapshot | undefined;
  /** Called after every certificate or trust-bundle change; returns an unsubscribe function. */
  onChange(listener: (snapshot: IdentitySnapshot) => void): () => void;
  /** Is this serial (uppercase hex as `X509Certificate.serialNumber` prints it, Citadel's format) on the deny list? */
  isRevoked(serial: string): boolean;
  /** Called when serials are added to the deny list (so open connections can be checked). */
  onRevocation(listener: (serials: readonly string[]) => void): () => void;
  /** The trust domain of our own identity (`cluster.local`). */
  trustDomain(): string | undefined;
}

/** How the identity manager is doing, for the admin API (`/certs`, readiness). */
export interface IdentityStatus {
  /** When the current certificate was received. */
  readonly lastRenewal?: Date;
  /** When the next renewal (or the retry after a failure) is due. */
  readonly nextRenewal?: Date;
  /** Why the last certificate request failed; cleared by the next success. */
  readonly lastError?: string;
  /** Whether the CitadelEvents stream (trust bundle, revocations, rotate-now) is open. */
  readonly eventsConnected: boolean;
}
