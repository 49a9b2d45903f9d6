import { generateKeyPair, type KeyObject, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { type Interceptor, type ServiceError, status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from '#libs/logging';
import { formatSpiffeId, parseSpiffeId, splitPemCertificates } from '#libs/pki';
import type { CitadelEvent } from '#libs/proto';
import { normalizeSerial, parseIssuedChain } from './certificate';
import {
  type CitadelEndpoint,
  type CitadelEventStream,
  type CitadelTls,
  grpcStatusOf,
  openEventStream,
  requestCertificate,
} from './citadel-client';
import { buildCsr } from './csr';
import { ProxyError } from './errors';
import { Backoff, MAX_TIMER_MS, renewalTime } from './schedule';
import type { IdentitySnapshot, IdentitySource, IdentityStatus, WorkloadCertificate } from './types';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Trust domain asked for in the first CSR, until Citadel's first certificate tells us the real one. */
const DEFAULT_TRUST_DOMAIN = 'cluster.local';
const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
const RETRY_PREFIX = 'retry after: ';

/** How a certificate request proves who we are. */
type Authentication = 'join-token' | 'certificate';

/** Settings of the proxy's workload identity. */
export interface WorkloadIdentityOptions {
  /** Citadel's gRPC (TLS) `host:port`. */
  readonly citadelAddress: string;
  /** The name Citadel's serving certificate must carry. */
  readonly citadelServerName: string;
  /** Initial trust (PEM, one or more roots): verifies Citadel until its trust bundle arrives. */
  readonly caRootsPem: string;
  /** The join token for the first certificate (and when the current one is no longer accepted). Never logged. */
  readonly joinToken: string;
  /** Lifetime asked for each certificate; it is renewed at about half of it. */
  readonly certTtlMs: number;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly logger: Logger;
  /** Milliseconds since the epoch; `Date.now` by default. */
  readonly clock?: () => number;
  /** Trust domain of the SAN requested before the first certificate; default `cluster.local`. */
  readonly trustDomain?: string;
  /** Client interceptors on every Citadel call (tracing, tests). */
  readonly interceptors?: readonly Interceptor[];
  /** Uniform random numbers in [0, 1) for renewal and backoff jitter; `Math.random` by default. */
  readonly random?: () => number;
  /** Deadline of each certificate request; default 15 s. */
  readonly requestTimeoutMs?: number;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * The proxy's SPIFFE identity, kept current with Citadel.
 *
 * - Every certificate gets a new ECDSA P-256 key, generated in memory; only its CSR leaves
 *   the process. The key is never written, logged or sent.
 * - The first certificate is requested with the join token; renewals (at 50% +/- 10% of the
 *   lifetime) authenticate with the current certificate over mTLS and no token. The token is
 *   used again only when the current certificate cannot be: expired, revoked, or refused.
 * - A failed request keeps the current certificate and is retried with exponential backoff.
 * - `CitadelEvents/Subscribe` (mTLS) delivers the trust bundle, the deny list and rotate-now;
 *   our own revocation or rotate-now renews at once. The stream reconnects with backoff, and
 *   with the new certificate after each renewal.
 * - `onChange` listeners are called synchronously with each new certificate or trust bundle.
 */
export class WorkloadIdentity implements IdentitySource {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly endpoint: CitadelEndpoint;
  private readonly configuredSpiffeId: string;
  private roots: readonly string[];
  private snapshot?: IdentitySnapshot;
  private receivedAtMs = 0;
  private readonly denyList = new Set<string>();
  private readonly changeListeners = new Set<(snapshot: IdentitySnapshot) => void>();
  private readonly revocationListeners = new Set<(serials: readonly string[]) => void>();
  private readonly renewBackoff: Backoff;
  private readonly eventsBackoff: Backoff;
  private readonly abort = new AbortController();
  private first?: Deferred;
  private stopped = false;
  private running?: Promise<void>;
  private queued?: Promise<void>;
  /** The last request failed and a retry is scheduled. */
  private retrying = false;
  /** Citadel refused the current certificate (UNAUTHENTICATED): use the join token next. */
  private certificateRejected = false;
  private renewTimer?: NodeJS.Timeout;
  private renewDueAtMs?: number;
  private events?: CitadelEventStream;
  private eventsTimer?: NodeJS.Timeout;
  private eventsConnected = false;
  private lastRenewal?: Date;
  private lastError?: string;

  /** @throws PkiError `SPIFFE_ID_INVALID` for an invalid namespace, service account or trust domain. */
  constructor(private readonly options: WorkloadIdentityOptions) {
    if (!(options.certTtlMs >= 1000)) throw new RangeError('certTtlMs must be at least 1000 ms');
    this.log = options.logger.child({ component: 'workload-identity' });
    this.now = options.clock ?? Date.now;
    const random = options.random ?? Math.random;
    this.renewBackoff = new Backoff(random);
    this.eventsBackoff = new Backoff(random);
    this.endpoint = {
      address: options.citadelAddress,
      serverName: options.citadelServerName,
      interceptors: options.interceptors,
    };
    this.configuredSpiffeId = formatSpiffeId({
      trustDomain: options.trustDomain ?? DEFAULT_TRUST_DOMAIN,
      namespace: options.namespace,
      serviceAccount: options.serviceAccount,
    });
    this.roots = splitPemCertificates(options.caRootsPem);
    if (this.roots.length === 0) throw new RangeError('caRootsPem holds no PEM certificate');
  }

  /**
   * Obtains the first certificate, retrying with backoff while Citadel is unreachable or
   * refuses; resolves once it is in place. Rejects only if `stop()` is called first.
   */
  start(): Promise<void> {
    if (this.stopped) return Promise.reject(stoppedError());
    if (!this.first) {
      this.first = deferred();
      this.log.info(
        { citadel: this.options.citadelAddress, spiffeId: this.configuredSpiffeId },
        'requesting a workload certificate',
      );
      this.renewInBackground('first certificate');
    }
    return this.first.promise;
  }

  /** Stops renewing, closes the event stream and cancels requests in flight; the last certificate stays readable. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.clearRenewTimer();
    clearTimeout(this.eventsTimer);
    this.closeEvents();
    this.first?.reject(stoppedError());
    this.log.info('workload identity stopped');
  }

  /**
   * Renews now with a new key (admin request, Citadel's rotate-now, our own revocation).
   * Resolves when the new certificate is in place; rejects when this attempt fails (a retry
   * with backoff is already scheduled) or the identity is stopped.
   */
  rotateNow(reason: string): Promise<void> {
    if (this.stopped) return Promise.reject(stoppedError());
    this.log.info({ reason }, 'certificate rotation requested');
    return this.renew(reason);
  }

  /** Last and next renewal, the last error, and whether the event stream is connected. */
  status(): IdentityStatus {
    return {
      lastRenewal: this.lastRenewal,
      nextRenewal: this.renewDueAtMs === undefined ? undefined : new Date(this.renewDueAtMs),
      lastError: this.lastError,
      eventsConnected: this.eventsConnected,
    };
  }

  current(): IdentitySnapshot | undefined {
    return this.snapshot;
  }

  onChange(listener: (snapshot: IdentitySnapshot) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  isRevoked(serial: string): boolean {
    return this.denyList.has(normalizeSerial(serial));
  }

  onRevocation(listener: (serials: readonly string[]) => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  trustDomain(): string | undefined {
    const spiffeId = this.snapshot?.certificate.spiffeId;
    return spiffeId === undefined ? undefined : parseSpiffeId(spiffeId).trustDomain;
  }

  // ---- certificate requests ------------------------------------------------------------

  /** One request at a time; a request asked for while one runs follows it (coalesced). */
  private renew(reason: string): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.running) return this.run(reason);
    const queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.run(reason);
      });
    this.queued = queued;
    return queued;
  }

  private run(reason: string): Promise<void> {
    const attempt: Promise<void> = this.attempt(reason).finally(() => {
      if (this.running === attempt) this.running = undefined;
    });
    this.running = attempt;
    return attempt;
  }

  /** Renewal started by a timer or an event: failures are logged and retried by `attempt`. */
  private renewInBackground(reason: string): void {
    this.renew(reason).catch(() => undefined);
  }

  private async attempt(reason: string): Promise<void> {
    if (this.stopped) throw stoppedError();
    this.clearRenewTimer();
    const authentication = this.chooseAuthentication();
    try {
      // A new key for every certificate; it never leaves this process.
      const { publicKey, privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
      const certChain = await requestCertificate(this.endpoint, this.tlsFor(authentication), {
        csrPem: buildCsr({ publicKey, privateKey, spiffeId: this.requestedSpiffeId() }),
        validitySeconds: Math.max(1, Math.round(this.options.certTtlMs / 1000)),
        joinToken: authentication === 'join-token' ? this.options.joinToken : undefined,
        deadlineMs: this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        signal: this.abort.signal,
      });
      if (this.stopped) throw stoppedError();
      this.install(parseIssuedChain({ certChain, publicKey, keyPem: pkcs8(privateKey) }), authentication, reason);
    } catch (error) {
      if (this.stopped) throw stoppedError(error);
      this.recordFailure(error, authentication, reason);
      throw error;
    }
  }

  /**
   * mTLS with the current certificate while Citadel can accept it; the join token when there
   * is none, it has expired, it is revoked, or Citadel refused it last time.
   */
  private chooseAuthentication(): Authentication {
    const certificate = this.snapshot?.certificate;
    if (!certificate || this.now() >= certificate.notAfter.getTime()) return 'join-token';
    if (this.certificateRejected || this.denyList.has(normalizeSerial(certificate.serial))) return 'join-token';
    return 'certificate';
  }

  private tlsFor(authentication: Authentication): CitadelTls {
    const certificate = this.snapshot?.certificate;
    if (authentication === 'join-token' || !certificate) return { rootsPem: this.roots };
    return { rootsPem: this.roots, client: { keyPem: certificate.keyPem, chainPem: certificate.chainPem } };
  }

  /** The identity we hold (renewal), else the configured one. Citadel refuses a CSR asking for another. */
  private requestedSpiffeId(): string {
    return this.snapshot?.certificate.spiffeId ?? this.configuredSpiffeId;
  }

  private install(certificate: WorkloadCertificate, authentication: Authentication, reason: string): void {
    const previous = this.snapshot?.certificate;
    this.snapshot = { certificate, rootsPem: this.roots };
    this.receivedAtMs = this.now();
    this.lastRenewal = new Date(this.receivedAtMs);
    this.lastError = undefined;
    this.retrying = false;
    this.certificateRejected = false;
    this.renewBackoff.reset();
    const renewAt = renewalTime({
      notBeforeMs: certificate.notBefore.getTime(),
      notAfterMs: certificate.notAfter.getTime(),
      receivedAtMs: this.receivedAtMs,
      random: (this.options.random ?? Math.random)(),
    });
    this.armRenewTimer(renewAt, 'scheduled renewal');
    this.log.info(
      {
        serial: certificate.serial,
        spiffeId: certificate.spiffeId,
        notAfter: certificate.notAfter.toISOString(),
        nextRenewal: new Date(renewAt).toISOString(),
        authentication,
        reason,
        ...(previous ? { previousSerial: previous.serial } : {}),
      },
      previous ? 'workload certificate renewed' : 'workload certificate issued',
    );
    if (!previous) this.warnIfOtherIdentity(certificate.spiffeId);
    this.notifyChange();
    this.reconnectEvents();
    this.first?.resolve();
  }

  private warnIfOtherIdentity(spiffeId: string): void {
    const { namespace, serviceAccount } = parseSpiffeId(spiffeId);
    if (namespace === this.options.namespace && serviceAccount === this.options.serviceAccount) return;
    this.log.warn(
      { spiffeId, namespace: this.options.namespace, serviceAccount: this.options.serviceAccount },
      'Citadel issued an identity other than the configured namespace and service account',
    );
  }

  private recordFailure(error: unknown, authentication: Authentication, reason: string): void {
    const status = grpcStatusOf(error);
    // A refused certificate sends the next attempt to the join token; a refused token back to mTLS.
    if (authentication === 'certificate' && status === GrpcStatus.UNAUTHENTICATED) this.certificateRejected = true;
    else if (authentication === 'join-token') this.certificateRejected = false;
    this.lastError = error instanceof Error ? error.message : String(error);
    this.retrying = true;
    const delay = this.renewBackoff.next();
    this.armRenewTimer(this.now() + delay, reason.startsWith(RETRY_PREFIX) ? reason : RETRY_PREFIX + reason);
    const fields = {
      reason,
      authentication,
      error: this.lastError,
      retryInMs: delay,
      keepingSerial: this.snapshot?.certificate.serial,
    };
    if (error instanceof ProxyError && error.code === 'CITADEL_UNAVAILABLE') {
      this.log.warn(fields, 'certificate request failed; keeping the current certificate and retrying');
    } else {
      this.log.error(fields, 'certificate request failed; keeping the current certificate and retrying');
    }
  }

  /** Arms the one renewal timer (scheduled renewal or retry); long delays are re-armed in steps. */
  private armRenewTimer(dueAtMs: number, reason: string): void {
    this.clearRenewTimer();
    if (this.stopped) return;
    this.renewDueAtMs = dueAtMs;
    const delay = Math.max(0, dueAtMs - this.now());
    const timer = setTimeout(
      () => {
        if (this.renewTimer !== timer) return;
        if (delay > MAX_TIMER_MS) return this.armRenewTimer(dueAtMs, reason);
        this.renewTimer = undefined;
        this.renewDueAtMs = undefined;
        this.renewInBackground(reason);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    // Before the first certificate the caller is waiting on start(): keep the process alive.
    if (this.snapshot) timer.unref();
    this.renewTimer = timer;
  }

  private clearRenewTimer(): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    this.renewDueAtMs = undefined;
  }

  private notifyChange(): void {
    const snapshot = this.snapshot;
    if (!snapshot) return;
    for (const listener of [...this.changeListeners]) {
      try {
        listener(snapshot);
      } catch (error) {
        this.log.error({ error: String(error) }, 'an identity change listener failed');
      }
    }
  }

  // ---- CitadelEvents ------------------------------------------------------------------

  private reconnectEvents(): void {
    this.closeEvents();
    this.connectEvents();
  }

  private connectEvents(): void {
    clearTimeout(this.eventsTimer);
    this.eventsTimer = undefined;
    const certificate = this.snapshot?.certificate;
    if (this.stopped || !certificate || this.events) return;
    const opened = openEventStream(this.endpoint, {
      rootsPem: this.roots,
      client: { keyPem: certificate.keyPem, chainPem: certificate.chainPem },
    });
    this.events = opened;
    opened.stream.on('data', (event: CitadelEvent) => {
      if (this.events !== opened) return;
      this.eventsBackoff.reset();
      this.setEventsConnected(true);
      this.handleEvent(event);
    });
    opened.stream.on('error', (error: ServiceError) => this.eventsEnded(opened, error));
    opened.stream.on('end', () => this.eventsEnded(opened));
  }

  /** Closes the stream on purpose: its end is not a failure and schedules nothing. */
  private closeEvents(): void {
    const events = this.events;
    this.events = undefined;
    events?.close();
    this.setEventsConnected(false);
  }

  private eventsEnded(stream: CitadelEventStream, error?: ServiceError): void {
    if (this.events !== stream) return;
    this.events = undefined;
    stream.close();
    this.setEventsConnected(false);
    if (this.stopped) return;
    const delay = this.eventsBackoff.next();
    this.log.warn(
      { error: error ? error.details || error.message : 'the stream ended', retryInMs: delay },
      'Citadel event stream lost; reconnecting',
    );
    if (error?.code === GrpcStatus.UNAUTHENTICATED && !this.running && !this.retrying) {
      this.certificateRejected = true;
      this.renewInBackground('Citadel refused our certificate on the event stream');
    }
    this.eventsTimer = setTimeout(() => this.connectEvents(), delay);
    this.eventsTimer.unref();
  }

  private setEventsConnected(connected: boolean): void {
    if (connected === this.eventsConnected) return;
    this.eventsConnected = connected;
    if (!connected) return;
    this.log.info({ citadel: this.options.citadelAddress }, 'Citadel event stream connected');
    // Citadel answers again: a renewal waiting out its backoff need not wait any longer.
    if (this.retrying && !this.running) this.renewInBackground(`${RETRY_PREFIX}Citadel is reachable again`);
  }

  private handleEvent(event: CitadelEvent): void {
    if (event.trust_bundle) this.onTrustBundle(event.trust_bundle.root_certs ?? []);
    else if (event.revocations) this.onRevocations(event.revocations.serials ?? [], event.revocations.snapshot);
    else if (event.rotate_now) this.onRotateNow(event.rotate_now.spiffe_id, event.rotate_now.reason);
  }

  /** Replaces the trusted roots (peers and later Citadel connections) and tells listeners. */
  private onTrustBundle(rootCerts: readonly string[]): void {
    const roots = parseRoots(rootCerts);
    if (roots.length === 0) {
      this.log.warn('ignored a trust bundle without a usable root certificate');
      return;
    }
    if (roots.length === this.roots.length && roots.every((root, index) => root === this.roots[index])) return;
    this.roots = roots;
    if (this.snapshot) this.snapshot = { ...this.snapshot, rootsPem: roots };
    this.log.info({ roots: roots.length }, 'trust bundle updated');
    this.notifyChange();
  }

  /** A snapshot replaces the deny list, anything else adds to it; our own revocation renews at once. */
  private onRevocations(serials: readonly string[], snapshot: boolean): void {
    const received = serials.map(normalizeSerial);
    const added = received.filter((serial) => !this.denyList.has(serial));
    if (snapshot) this.denyList.clear();
    for (const serial of received) this.denyList.add(serial);
    if (added.length === 0) return;
    this.log.info({ added: added.length, denyList: this.denyList.size, snapshot }, 'revocations received');
    for (const listener of [...this.revocationListeners]) {
      try {
        listener(added);
      } catch (error) {
        this.log.error({ error: String(error) }, 'a revocation listener failed');
      }
    }
    const own = this.snapshot?.certificate.serial;
    if (own !== undefined && added.includes(normalizeSerial(own))) {
      this.log.warn({ serial: own }, 'our certificate was revoked; renewing now');
      this.rotateNow('our certificate was revoked').catch(() => undefined);
    }
  }

  private onRotateNow(spiffeId: string, reason: string): void {
    const own = this.snapshot?.certificate.spiffeId;
    if (spiffeId && own && spiffeId !== own) return;
    this.rotateNow(`Citadel asked to rotate now: ${reason || 'no reason given'}`).catch(() => undefined);
  }
}

function pkcs8(privateKey: KeyObject): string {
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Every parsable root of a pushed trust bundle, one PEM per certificate. */
function parseRoots(rootCerts: readonly string[]): string[] {
  return rootCerts.flatMap((element) => {
    try {
      return splitPemCertificates(element).filter((pem) => new X509Certificate(pem).ca);
    } catch {
      return [];
    }
  });
}

function stoppedError(cause?: unknown): ProxyError {
  return new ProxyError('IDENTITY_STOPPED', 'the workload identity was stopped', { cause });
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // the caller of start() handles it; never an unhandled rejection
  return { promise, resolve, reject };
}
