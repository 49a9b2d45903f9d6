import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DecisionLog } from './decision-log.entity';
import type { DecisionLogQuery } from './decision-log-query';
import type { DecisionRecord } from './decision-record';

const COLUMNS: [keyof DecisionRecord, string, string?][] = [
  ['decisionId', 'decision_id'],
  ['decidedAt', 'decided_at'],
  ['requestId', 'request_id'],
  ['sourcePrincipal', 'source_principal'],
  ['destination', 'destination'],
  ['method', 'method'],
  ['path', 'path'],
  ['host', 'host'],
  ['allowed', 'allowed'],
  ['httpStatus', 'http_status'],
  ['policy', 'policy'],
  ['revision', 'revision'],
  ['decision', 'decision', 'jsonb'],
  ['input', 'input', 'jsonb'],
  ['reason', 'reason'],
  ['reporter', 'reporter'],
  ['requestedBy', 'requested_by'],
  ['evalDurationMicros', 'eval_duration_us'],
  ['metrics', 'metrics', 'jsonb'],
];
/** Rows per INSERT (PostgreSQL allows 65535 parameters per statement). */
const CHUNK = 500;
const PRUNE_CHUNK = 10_000;

/** The decision log table: batched inserts (a repeated decision id is stored once), queries, pruning. */
@Injectable()
export class DecisionLogStore {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Stores `records` in one transaction; returns how many were new (the rest repeated a decision id). */
  async insert(records: readonly DecisionRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    return this.dataSource.transaction(async (manager) => {
      let stored = 0;
      for (let start = 0; start < records.length; start += CHUNK) {
        const chunk = records.slice(start, start + CHUNK);
        const params: unknown[] = [];
        const rows = chunk.map((record) => {
          const placeholders = COLUMNS.map(([key, , cast]) => {
            const value = record[key];
            params.push(
              cast === 'jsonb' ? (value === null || value === undefined ? null : JSON.stringify(value)) : value,
            );
            return cast ? `$${params.length}::${cast}` : `$${params.length}`;
          });
          return `(${placeholders.join(', ')})`;
        });
        const inserted = (await manager.query(
          `INSERT INTO policy_decision_logs (${COLUMNS.map(([, column]) => `"${column}"`).join(', ')})
           VALUES ${rows.join(', ')}
           ON CONFLICT ("decision_id") DO NOTHING RETURNING id`,
          params,
        )) as unknown[];
        stored += inserted.length;
      }
      return stored;
    });
  }

  /** One page, newest first, and whether more follow (`limit + 1` rows are read to know). */
  async find(query: DecisionLogQuery): Promise<{ rows: DecisionLog[]; more: boolean }> {
    const qb = this.dataSource.getRepository(DecisionLog).createQueryBuilder('d');
    if (query.from) qb.andWhere('d.decided_at >= :from', { from: query.from });
    if (query.to) qb.andWhere('d.decided_at < :to', { to: query.to });
    if (query.principal) qb.andWhere('d.source_principal = :principal', { principal: query.principal });
    if (query.destination) qb.andWhere('d.destination = :destination', { destination: query.destination });
    if (query.path?.prefix) {
      qb.andWhere(`d.path LIKE :path ESCAPE '\\'`, { path: `${query.path.value.replace(/[\\%_]/g, '\\$&')}%` });
    } else if (query.path) qb.andWhere('d.path = :path', { path: query.path.value });
    if (query.allowed !== undefined) qb.andWhere('d.allowed = :allowed', { allowed: query.allowed });
    if (query.policy) qb.andWhere('d.policy = :policy', { policy: query.policy });
    if (query.revision) qb.andWhere('d.revision = :revision', { revision: query.revision });
    if (query.requestId) qb.andWhere('d.request_id = :requestId', { requestId: query.requestId });
    if (query.after) {
      qb.andWhere('(d.decided_at, d.id) < (:afterAt, CAST(:afterId AS bigint))', {
        afterAt: query.after.decidedAt,
        afterId: query.after.id,
      });
    }
    const rows = await qb
      .orderBy('d.decided_at', 'DESC')
      .addOrderBy('d.id', 'DESC')
      .limit(query.limit + 1)
      .getMany();
    return { rows: rows.slice(0, query.limit), more: rows.length > query.limit };
  }

  async get(id: string): Promise<DecisionLog | null> {
    return this.dataSource.getRepository(DecisionLog).findOne({ where: { id } });
  }

  /**
   * The recorded inputs in [from, to) decided by `policy` (every policy when null), newest
   * first, at most `limit`.
   */
  async window(
    policy: string | null,
    from: Date,
    to: Date,
    limit: number,
  ): Promise<
    Pick<DecisionLog, 'decisionId' | 'decidedAt' | 'requestId' | 'path' | 'sourcePrincipal' | 'allowed' | 'input'>[]
  > {
    const qb = this.dataSource
      .getRepository(DecisionLog)
      .createQueryBuilder('d')
      .select([
        'd.id',
        'd.decisionId',
        'd.decidedAt',
        'd.requestId',
        'd.path',
        'd.sourcePrincipal',
        'd.allowed',
        'd.input',
      ])
      .where('d.decided_at >= :from AND d.decided_at < :to', { from, to });
    if (policy !== null) qb.andWhere('d.policy = :policy', { policy });
    return qb.orderBy('d.decided_at', 'DESC').addOrderBy('d.id', 'DESC').limit(limit).getMany();
  }

  /** Deletes decisions made before `cutoff`, a chunk per statement; returns how many. */
  async prune(cutoff: Date): Promise<number> {
    let removed = 0;
    for (;;) {
      const [, count] = (await this.dataSource.query(
        `DELETE FROM policy_decision_logs WHERE id IN (
           SELECT id FROM policy_decision_logs WHERE decided_at < $1 LIMIT ${PRUNE_CHUNK})`,
        [cutoff],
      )) as [unknown, number];
      removed += count;
      if (count < PRUNE_CHUNK) return removed;
    }
  }
}
