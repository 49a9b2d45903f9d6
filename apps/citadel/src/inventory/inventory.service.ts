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

/** The record of every certificate Citadel issued (serial, identity, validity, fingerprint, status). */
@Injectable()
export class InventoryService {
  private readonly certificates: Repository<IssuedCertificate>;

  constructor(@Inject(DataSource) dataSource: DataSource) {
    this.certificates = dataSource.getRepository(IssuedCertificate);
  }

  async record(params: RecordParams): Promise<void> {
    await this.certificates.insert({ ...params, status: 'active' });
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
