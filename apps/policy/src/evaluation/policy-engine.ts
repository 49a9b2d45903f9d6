import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import { type Evaluation, PolicyRuntime } from '#libs/policy-runtime';
import type { PolicyConfig } from '../config';
import { PolicyError } from '../errors';
import type { ActivationListener } from '../policies/policies.service';
import { PolicyRevision } from '../policies/policy-revision.entity';

/** One evaluation and which revision made it. */
export interface PolicyEvaluation {
  policy: string;
  revision: number;
  evaluation: Evaluation;
}

interface RevisionRef {
  id: string;
  revision: number;
}

const MAX_LOADED = 32;

/**
 * Evaluates policies: keeps one loaded wasm instance per revision (reused across requests)
 * and remembers each policy's active revision for POLICY_ACTIVE_REFRESH, or until an
 * activation through this process says otherwise.
 */
@Injectable()
export class PolicyEngine implements ActivationListener {
  private readonly logger = new Logger('PolicyEngine');
  private readonly runtimes = new Map<string, Promise<PolicyRuntime>>();
  private readonly active = new Map<string, { ref: RevisionRef | null; until: number }>();

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  activated(policyName: string): void {
    this.active.delete(policyName);
  }

  /**
   * Evaluates `input` with revision `revision` of `policy` (its active revision when omitted).
   * Throws POLICY_NOT_FOUND, POLICY_NOT_ACTIVE or REVISION_NOT_FOUND; evaluation failures
   * are denials inside the result, never exceptions.
   */
  async evaluate(policy: string, revision: number | undefined, input: unknown): Promise<PolicyEvaluation> {
    const ref = revision === undefined ? await this.activeRevision(policy) : await this.lookup(policy, revision);
    const runtime = await this.runtime(ref.id);
    return { policy, revision: ref.revision, evaluation: runtime.evaluate(input) };
  }

  private async activeRevision(policy: string): Promise<RevisionRef> {
    const now = Date.now();
    let cached = this.active.get(policy);
    if (!cached || cached.until <= now) {
      cached = { ref: await this.findRef(policy, undefined), until: now + this.config.activeRefresh };
      this.active.set(policy, cached);
    }
    if (!cached.ref) {
      this.active.delete(policy); // the reason (no policy, or none active) is worked out below
      await this.lookup(policy, undefined);
      throw new PolicyError('POLICY_NOT_ACTIVE', `policy ${policy} has no active revision`);
    }
    return cached.ref;
  }

  private async lookup(policy: string, revision: number | undefined): Promise<RevisionRef> {
    const ref = await this.findRef(policy, revision);
    if (ref) return ref;
    const known = (await this.dataSource.query(`SELECT active_revision FROM policy_policies WHERE name = $1`, [
      policy,
    ])) as { active_revision: number | null }[];
    if (known.length === 0) throw new PolicyError('POLICY_NOT_FOUND', `no policy named ${policy}`);
    if (revision === undefined) throw new PolicyError('POLICY_NOT_ACTIVE', `policy ${policy} has no active revision`);
    throw new PolicyError('REVISION_NOT_FOUND', `policy ${policy} has no revision ${revision}`);
  }

  private async findRef(policy: string, revision: number | undefined): Promise<RevisionRef | null> {
    const rows = (await this.dataSource.query(
      `SELECT r.id, r.revision FROM policy_policies p
         JOIN policy_revisions r ON r.policy_id = p.id AND r.revision = COALESCE($2::integer, p.active_revision)
        WHERE p.name = $1`,
      [policy, revision ?? null],
    )) as RevisionRef[];
    return rows[0] ?? null;
  }

  private runtime(revisionId: string): Promise<PolicyRuntime> {
    let loading = this.runtimes.get(revisionId);
    if (!loading) {
      loading = this.load(revisionId);
      loading.catch(() => this.runtimes.delete(revisionId));
      this.runtimes.set(revisionId, loading);
      if (this.runtimes.size > MAX_LOADED) this.runtimes.delete(this.runtimes.keys().next().value as string);
    }
    return loading;
  }

  private async load(revisionId: string): Promise<PolicyRuntime> {
    const revision = await this.dataSource.getRepository(PolicyRevision).findOneOrFail({ where: { id: revisionId } });
    const runtime = await PolicyRuntime.load(revision.wasm, {
      data: revision.data,
      entrypoint: revision.entrypoints[0],
      now: () => this.clock.now(),
    });
    this.logger.log({ msg: 'loaded a policy revision', revisionId, revision: revision.revision });
    return runtime;
  }
}
