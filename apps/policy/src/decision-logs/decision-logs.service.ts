import { Inject, Injectable } from '@nestjs/common';
import { BowlineError, Kinds } from '#libs/errors';
import { DecisionLogMetrics } from './decision-log.metrics';
import { DecisionLogStore } from './decision-log.store';
import { encodeCursor, parseDecisionLogQuery } from './decision-log-query';
import { parseDecisionBatch } from './decision-log-request';
import { decisionLogView, type DecisionLogView } from './decision-record';
import { DECISION_MASKER, type InputMasker } from './masking.provider';

/** Ingestion (validate, mask, store) and queries of decision logs. */
@Injectable()
export class DecisionLogsService {
  constructor(
    @Inject(DecisionLogStore) private readonly store: DecisionLogStore,
    @Inject(DECISION_MASKER) private readonly masker: InputMasker,
    @Inject(DecisionLogMetrics) private readonly metrics: DecisionLogMetrics,
  ) {}

  /** Stores a proxy's batch; `reporter` names the sender when entries do not. */
  async ingest(body: unknown, reporter: string): Promise<{ received: number; stored: number }> {
    const records = parseDecisionBatch(body, this.masker, reporter);
    const stored = await this.store.insert(records);
    this.metrics.storedLogs('ingested', stored);
    return { received: records.length, stored };
  }

  async find(query: Record<string, unknown>): Promise<{ items: DecisionLogView[]; nextCursor: string | null }> {
    const { rows, more } = await this.store.find(parseDecisionLogQuery(query));
    const last = rows.at(-1);
    return { items: rows.map(decisionLogView), nextCursor: more && last ? encodeCursor(last) : null };
  }

  async get(id: string): Promise<DecisionLogView> {
    const row = await this.store.get(id);
    if (!row) throw new BowlineError(Kinds.NOT_FOUND, `no decision log ${id}`);
    return decisionLogView(row);
  }
}
