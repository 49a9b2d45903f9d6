import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CLOCK, type Clock } from '#libs/host';
import { PolicyRuntime } from '#libs/policy-runtime';
import { PolicyError } from '../errors';
import { DecisionLogStore } from './decision-log.store';
import type { ReplaySpec } from './replay-request';

/** A recorded decision the replay changed (or could not decide). */
export interface ReplaySample {
  decisionId: string;
  requestId: string | null;
  path: string | null;
  principal: string | null;
}

export interface ReplayGroup {
  count: number;
  /** The first REPLAY_SAMPLES, newest first. */
  samples: ReplaySample[];
}

export interface ReplayReport {
  policy: string;
  revision: number;
  from: string;
  to: string;
  allPolicies: boolean;
  /** Recorded decisions evaluated again (at most `limit`; `truncated` when the window held more). */
  evaluated: number;
  truncated: boolean;
  unchanged: number;
  newlyDenied: ReplayGroup;
  newlyAllowed: ReplayGroup;
  /** Replayed decisions that were errors (undefined, malformed, failed): they deny. */
  errors: ReplayGroup & { samples: (ReplaySample & { error: string })[] };
}

export const REPLAY_SAMPLES = 20;
/** Evaluations between two yields to the event loop, so a long replay does not stall other requests. */
const YIELD_EVERY = 100;

/**
 * What-if over history: evaluates one revision (typically a draft) against the recorded,
 * masked inputs of a time window and reports which decisions it would change. Each input is
 * evaluated at its recorded decision time (`time.now_ns`, token expiry). Inputs were masked
 * before storage, so a revision that reads a masked value (a bearer token, say) sees
 * "[masked]" there.
 */
@Injectable()
export class ReplayService {
  private readonly logger = new Logger('Replay');

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(DecisionLogStore) private readonly store: DecisionLogStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Throws POLICY_NOT_FOUND, REVISION_NOT_FOUND. */
  async replay(policy: string, revision: number, spec: ReplaySpec): Promise<ReplayReport> {
    const at = { now: this.clock.now() };
    const runtime = await this.load(policy, revision, () => at.now);
    const rows = await this.store.window(spec.allPolicies ? null : policy, spec.from, spec.to, spec.limit + 1);
    const report: ReplayReport = {
      policy,
      revision,
      from: spec.from.toISOString(),
      to: spec.to.toISOString(),
      allPolicies: spec.allPolicies,
      evaluated: 0,
      truncated: rows.length > spec.limit,
      unchanged: 0,
      newlyDenied: { count: 0, samples: [] },
      newlyAllowed: { count: 0, samples: [] },
      errors: { count: 0, samples: [] },
    };
    for (const row of rows.slice(0, spec.limit)) {
      if (report.evaluated > 0 && report.evaluated % YIELD_EVERY === 0) await yieldToLoop();
      at.now = row.decidedAt; // time.now_ns and token expiry as they were when the decision was made
      const { decision } = runtime.evaluate(row.input);
      report.evaluated++;
      const sample = {
        decisionId: row.decisionId,
        requestId: row.requestId,
        path: row.path,
        principal: row.sourcePrincipal,
      };
      if (decision.error) add(report.errors, { ...sample, error: decision.error.message });
      if (decision.allowed === row.allowed) report.unchanged++;
      else add(decision.allowed ? report.newlyAllowed : report.newlyDenied, sample);
    }
    this.logger.log({
      msg: 'replayed recorded decisions',
      policy,
      revision,
      evaluated: report.evaluated,
      newlyDenied: report.newlyDenied.count,
      newlyAllowed: report.newlyAllowed.count,
    });
    return report;
  }

  private async load(policy: string, revision: number, now: () => Date): Promise<PolicyRuntime> {
    const [row] = (await this.dataSource.query(
      `SELECT p.id AS policy_id, r.wasm, r.data, r.entrypoints FROM policy_policies p
         LEFT JOIN policy_revisions r ON r.policy_id = p.id AND r.revision = $2
        WHERE p.name = $1`,
      [policy, revision],
    )) as { policy_id: string; wasm: Buffer | null; data: unknown; entrypoints: string[] | null }[];
    if (!row) throw new PolicyError('POLICY_NOT_FOUND', `no policy named ${policy}`);
    if (!row.wasm || !row.entrypoints) {
      throw new PolicyError('REVISION_NOT_FOUND', `policy ${policy} has no revision ${revision}`);
    }
    return PolicyRuntime.load(row.wasm, {
      data: row.data,
      entrypoint: row.entrypoints[0],
      now,
    });
  }
}

function add<S>(group: { count: number; samples: S[] }, sample: S): void {
  group.count++;
  if (group.samples.length < REPLAY_SAMPLES) group.samples.push(sample);
}
