import { Inject, Injectable } from '@nestjs/common';
import { DataSource, LessThanOrEqual, MoreThan, type FindOptionsWhere, type Repository } from 'typeorm';
import { BowlineError, Kinds } from '#libs/errors';
import { GroupCommit } from '../batching/group-commit';
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

/** Most certificates recorded by one INSERT. */
const MAX_BATCH = 500;

/** Records one certificate: what a batch of one costs PostgreSQL least. */
const INSERT_ONE_SQL = `
  INSERT INTO citadel_certificates
         (serial_hex, spiffe_id, not_before, not_after, fingerprint_sha256, issuer_id, auth_method, status)
  VALUES ($1, $2, $3, $4, $5, $6, $7, 'active')`;

/** Records a whole batch in one statement: one array parameter per column, whatever the batch size. */
const INSERT_BATCH_SQL = `
  INSERT INTO citadel_certificates
         (serial_hex, spiffe_id, not_before, not_after, fingerprint_sha256, issuer_id, auth_method, status)
  SELECT serial_hex, spiffe_id, not_before, not_after, fingerprint_sha256, issuer_id, auth_method, 'active'
    FROM unnest($1::varchar[], $2::varchar[], $3::timestamptz[], $4::timestamptz[], $5::varchar[], $6::uuid[],
                $7::varchar[])
      AS r(serial_hex, spiffe_id, not_before, not_after, fingerprint_sha256, issuer_id, auth_method)`;

/** The values of the INSERTs' parameters, in order ($1 … $7), from a record. */
const INSERT_COLUMNS: readonly ((row: RecordParams) => string | Date)[] = [
  (row) => row.serialHex,
  (row) => row.spiffeId,
  (row) => row.notBefore,
  (row) => row.notAfter,
  (row) => row.fingerprintSha256,
  (row) => row.issuerId,
  (row) => row.authMethod,
];

/** The record of every certificate Citadel issued (serial, identity, validity, fingerprint, status). */
@Injectable()
export class InventoryService {
  private readonly certificates: Repository<IssuedCertificate>;
  /** Concurrent records share one INSERT and one commit (group commit, one batch at a time). */
  private readonly records: GroupCommit<RecordParams, void>;

  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {
    this.certificates = dataSource.getRepository(IssuedCertificate);
    this.records = new GroupCommit((batch) => this.insertBatch(batch), { maxBatch: MAX_BATCH });
  }

  /**
   * Records an issued certificate; resolves once it is committed (a certificate is never
   * handed out before the inventory knows it, so it can be revoked as soon as it is seen).
   * Concurrent records share one INSERT.
   */
  record(params: RecordParams): Promise<void> {
    return this.records.submit(params);
  }

  /** One INSERT for the batch: column arrays through unnest, or plain values for a batch of one. */
  private async insertBatch(batch: readonly RecordParams[]): Promise<void[]> {
    const [only] = batch;
    if (batch.length === 1 && only) {
      await this.dataSource.query(
        INSERT_ONE_SQL,
        INSERT_COLUMNS.map((column) => column(only)),
      );
    } else {
      await this.dataSource.query(
        INSERT_BATCH_SQL,
        INSERT_COLUMNS.map((column) => batch.map(column)),
      );
    }
    return batch.map(() => undefined);
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
