import { Inject, Injectable } from '@nestjs/common';
import { DataSource, In, MoreThan } from 'typeorm';
import { BowlineError, Kinds } from '#libs/errors';
import { CLOCK, type Clock } from '#libs/host';
import { createCrl, CRL_REASONS, type CrlReason } from '#libs/pki';
import { CaEventBus } from '../events/event-bus';
import { CertificateAuthority } from '../keys/certificate-authority';
import { CitadelMetrics } from '../metrics/citadel-metrics';
import { type CertificateView, InventoryService } from './inventory.service';
import { IssuedCertificate } from './issued-certificate.entity';

export const REVOCATION_REASONS = Object.keys(CRL_REASONS) as CrlReason[];

/** CRLs are reissued at least this often. */
const CRL_VALIDITY_MS = 3_600_000;

/**
 * Revocation: marks certificates revoked, tells every proxy at once (event stream) and
 * serves a signed CRL for tools.
 */
@Injectable()
export class RevocationService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(InventoryService) private readonly inventory: InventoryService,
    @Inject(CaEventBus) private readonly events: CaEventBus,
    @Inject(CertificateAuthority) private readonly ca: CertificateAuthority,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(CitadelMetrics) private readonly metrics: CitadelMetrics,
  ) {}

  async revoke(serialHex: string, reason: CrlReason): Promise<CertificateView> {
    const serial = serialHex.toUpperCase();
    const revoked = await this.revokeWhere({ serialHex: serial }, reason);
    if (revoked.length === 0) {
      const existing = await this.inventory.get(serial); // 404 when unknown
      if (existing.status === 'revoked') return existing;
      throw new BowlineError(Kinds.CONFLICT, `certificate ${serial} cannot be revoked`);
    }
    return this.inventory.get(serial);
  }

  /** Revokes the still-active certificates matching `where`; returns their serials. */
  async revokeWhere(
    where: { serialHex?: string; spiffeId?: string; issuedBefore?: Date },
    reason: CrlReason,
  ): Promise<string[]> {
    const now = this.clock.now();
    return this.dataSource.transaction(async (manager) => {
      const query = manager
        .createQueryBuilder()
        .update(IssuedCertificate)
        .set({ status: 'revoked', revokedAt: now, revocationReason: reason })
        .where('status = :active', { active: 'active' });
      if (where.serialHex) query.andWhere('serial_hex = :serial', { serial: where.serialHex });
      if (where.spiffeId) query.andWhere('spiffe_id = :spiffeId', { spiffeId: where.spiffeId });
      if (where.issuedBefore) query.andWhere('created_at < :before', { before: where.issuedBefore });
      const result = await query.returning(['serialHex']).execute();
      const serials = (result.raw as { serial_hex: string }[]).map((row) => row.serial_hex);
      if (serials.length > 0) await this.events.publish(manager, { type: 'revoked', serials });
      this.metrics.revocations(reason, serials.length);
      return serials;
    });
  }

  /** Serials of revoked certificates that have not expired yet: the deny list proxies keep. */
  async denyList(): Promise<string[]> {
    const rows = await this.dataSource.getRepository(IssuedCertificate).find({
      select: { serialHex: true },
      where: { status: 'revoked', notAfter: MoreThan(this.clock.now()) },
    });
    return rows.map((row) => row.serialHex);
  }

  /** The CRL of the current signing CA: its revoked, unexpired certificates. */
  async crl(): Promise<{ der: Buffer; pem: string }> {
    const now = this.clock.now();
    const rows = await this.dataSource.getRepository(IssuedCertificate).find({
      where: { status: 'revoked', notAfter: MoreThan(now), issuerId: In([this.ca.signerId]) },
      order: { revokedAt: 'ASC' },
    });
    return createCrl({
      issuer: this.ca.signer,
      revoked: rows.map((row) => ({
        serialHex: row.serialHex,
        revokedAt: row.revokedAt ?? now,
        reason: (REVOCATION_REASONS.includes(row.revocationReason as CrlReason)
          ? row.revocationReason
          : 'unspecified') as CrlReason,
      })),
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + CRL_VALIDITY_MS),
      // Issue time in seconds: increases with every reissue, as RFC 5280 5.2.3 requires.
      crlNumber: BigInt(Math.floor(now.getTime() / 1000)),
    });
  }
}
