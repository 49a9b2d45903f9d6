import { Inject, Injectable } from '@nestjs/common';
import { X509Certificate } from 'node:crypto';
import type { Registry } from 'prom-client';
import { BowlineError } from '#libs/errors';
import { counter, gauge, histogram, METRICS_REGISTRY } from '#libs/metrics';
import { CertificateAuthority } from '../keys/certificate-authority';

/**
 * Citadel's metrics on the admin port's /metrics: issuances by result and reason, signing
 * latency, CA certificate expiry, join-token redemptions and revocations.
 */
@Injectable()
export class CitadelMetrics {
  private readonly issued;
  private readonly latency;
  private readonly redeemed;
  private readonly revoked;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, @Inject(CertificateAuthority) ca: CertificateAuthority) {
    this.issued = counter(registry, {
      name: 'bowline_citadel_certificate_requests_total',
      help: 'CreateCertificate requests by result (issued, refused) and reason (the error kind, or "none").',
      labelNames: ['result', 'reason'],
    });
    this.latency = histogram(registry, {
      name: 'bowline_citadel_certificate_request_duration_seconds',
      help: 'Time to authenticate, sign, verify and record one CreateCertificate request.',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
    });
    this.redeemed = counter(registry, {
      name: 'bowline_citadel_join_token_redemptions_total',
      help: 'Join tokens presented to CreateCertificate, by result (accepted, refused).',
      labelNames: ['result'],
    });
    this.revoked = counter(registry, {
      name: 'bowline_citadel_revocations_total',
      help: 'Certificates revoked, by reason.',
      labelNames: ['reason'],
    });
    gauge(registry, {
      name: 'bowline_citadel_ca_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the CA certificates in use (signer and every trusted root), as a Unix timestamp.',
      labelNames: ['role', 'serial'],
      collect() {
        this.reset();
        const signer = ca.signer.certificate;
        this.set({ role: 'intermediate', serial: signer.serialNumber }, Date.parse(signer.validTo) / 1000);
        for (const pem of ca.rootPems()) {
          const x509 = new X509Certificate(pem);
          this.set({ role: 'root', serial: x509.serialNumber }, Date.parse(x509.validTo) / 1000);
        }
      },
    });
  }

  /** Times `work` and counts its outcome by the error kind that refused it. */
  async observeRequest<T>(work: () => Promise<T>): Promise<T> {
    const stop = this.latency.startTimer();
    try {
      const result = await work();
      this.issued.inc({ result: 'issued', reason: 'none' });
      stop({ result: 'issued' });
      return result;
    } catch (error) {
      const reason = error instanceof BowlineError ? error.kind.code : 'INTERNAL';
      this.issued.inc({ result: 'refused', reason });
      stop({ result: 'refused' });
      throw error;
    }
  }

  joinToken(accepted: boolean): void {
    this.redeemed.inc({ result: accepted ? 'accepted' : 'refused' });
  }

  revocations(reason: string, count: number): void {
    if (count > 0) this.revoked.inc({ reason }, count);
  }
}
