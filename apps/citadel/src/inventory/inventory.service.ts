import { Inject, Injectable } from '@nestjs/common';
import { DataSource, LessThanOrEqual, MoreThan, type FindOptionsWhere, type Repository } from 'typeorm';
import { BowlineError, Kinds } from '#libs/errors';
import { IssuedCertificate } from './issued-certificate.entity';

export interface RecordParams {
  serialHex: string;
  spiffeId: string;
  notBefore: Date;
  notAfter: Date;
  fingerprintSha256: string;
  issuerId: string;
  authMethod: IssuedCertificate['authMethod'];
}

export interface CertificateView {
  serial: string;
  spiffeId: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
  issuerId: string;
  status: IssuedCertificate['status'];
  authMethod: IssuedCertificate['authMethod'];
  revokedAt: string | null;
  revocationReason: string | null;
  issuedAt: string;
}

export interface SearchParams {
  spiffeId?: string;
  /** Only certificates still valid at `now` that expire within this many seconds. */
  expiresWithinSeconds?: number;
  limit: number;
}

const MAX_BATCH = 500;

/** The record of every certificate Citadel issued (serial, identity, validity, fingerprint, status). */
@Injectable()
export class InventoryService {
  private readonly certificates: Repository<IssuedCertificate>;

  constructor(@Inject(DataSource) dataSource: DataSource) {
    this.certificates = dataSource.getRepository(IssuedCertificate);
  }

  private queue: { row: RecordParams; done: (error?: Error) => void }[] = [];

  /**
   * Records an issued certificate; resolves once it is committed (a certificate is never
   * handed out before the inventory knows it). Concurrent records share one INSERT.
   */
  record(params: RecordParams): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => void this.flush());
      this.queue.push({ row: params, done: (error) => (error ? reject(error) : resolve()) });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (this.queue.length > 0) setImmediate(() => void this.flush());
    try {
      await this.certificates.insert(batch.map(({ row }) => ({ ...row, status: 'active' as const })));
      batch.forEach(({ done }) => done());
    } catch (error) {
      batch.forEach(({ done }) => done(error as Error));
    }
  }

  /** The inventory row of an active, unexpired certificate with this serial, or null. */
  async findValid(serialHex: string, now: Date): Promise<IssuedCertificate | null> {
    return this.certificates.findOne({ where: { serialHex, status: 'active', notAfter: MoreThan(now) } });
  }

  async get(serialHex: string): Promise<CertificateView> {
    const found = await this.certificates.findOne({ where: { serialHex: serialHex.toUpperCase() } });
    if (!found) throw new BowlineError(Kinds.NOT_FOUND, `no certificate with serial ${serialHex}`);
    return toView(found);
  }

  async search(params: SearchParams, now: Date): Promise<CertificateView[]> {
    const where: FindOptionsWhere<IssuedCertificate> = {};
    if (params.spiffeId) where.spiffeId = params.spiffeId;
    if (params.expiresWithinSeconds !== undefined) {
      where.notAfter = LessThanOrEqual(new Date(now.getTime() + params.expiresWithinSeconds * 1000));
    }
    const rows = await this.certificates.find({ where, order: { notAfter: 'ASC' }, take: params.limit });
    return rows.filter((row) => params.expiresWithinSeconds === undefined || row.notAfter > now).map(toView);
  }
}

function toView(row: IssuedCertificate): CertificateView {
  return {
    serial: row.serialHex,
    spiffeId: row.spiffeId,
    notBefore: row.notBefore.toISOString(),
    notAfter: row.notAfter.toISOString(),
    fingerprintSha256: row.fingerprintSha256,
    issuerId: row.issuerId,
    status: row.status,
    authMethod: row.authMethod,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    revocationReason: row.revocationReason,
    issuedAt: row.createdAt.toISOString(),
  };
}
