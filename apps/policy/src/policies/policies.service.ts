import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { CLOCK, type Clock } from '#libs/host';
import { DEFAULT_ENTRYPOINT } from '#libs/policy-runtime';
import {
  type CompiledPolicy,
  POLICY_COMPILER,
  type PolicyCompiler,
  type TestReport,
} from '../compiler/policy-compiler';
import { PolicyError } from '../errors';
import { PolicyRevision } from './policy-revision.entity';
import { Policy } from './policy.entity';
import type { CreatePolicySpec, RevisionSpec } from './policy-request';
import {
  type PolicyView,
  type RevisionSummary,
  type RevisionView,
  revisionSummary,
  revisionView,
  policyView,
} from './views';

/** Told when a policy's active revision changes, so evaluation switches at once. */
export const ACTIVATION_LISTENER = Symbol('ACTIVATION_LISTENER');
export interface ActivationListener {
  activated(policyName: string): void;
}

/**
 * Policies and their immutable revisions: every change compiles first (nothing that does not
 * compile is stored), then becomes a new numbered revision; activation is explicit, and
 * activating an older revision is the rollback.
 */
@Injectable()
export class PoliciesService {
  private readonly logger = new Logger('Policies');

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(POLICY_COMPILER) private readonly compiler: PolicyCompiler,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ACTIVATION_LISTENER) private readonly listener: ActivationListener,
  ) {}

  /** Creates a policy with revision 1. Throws POLICY_EXISTS, POLICY_COMPILE. */
  async create(
    spec: CreatePolicySpec,
    createdBy: string | null,
  ): Promise<{ policy: PolicyView; revision: RevisionView }> {
    if (await this.dataSource.getRepository(Policy).exists({ where: { name: spec.name } })) throw exists(spec.name);
    const entrypoints = spec.entrypoints ?? [DEFAULT_ENTRYPOINT];
    const compiled = await this.compiler.compile({ modules: spec.modules, entrypoints, inputPaths: true });
    const now = this.clock.now();
    const result = await this.dataSource.transaction(async (manager) => {
      const policy = await manager
        .getRepository(Policy)
        .save({
          name: spec.name,
          description: spec.description,
          activeRevision: null,
          latestRevision: 1,
          createdBy,
          createdAt: now,
          updatedAt: now,
        })
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? exists(spec.name) : error;
        });
      const revision = await this.insertRevision(
        manager,
        policy,
        1,
        { ...spec, entrypoints },
        compiled,
        createdBy,
        now,
      );
      if (spec.activate) await this.switchActive(manager, policy, revision, now);
      return { policy: policyView(policy), revision: revisionView(revision) };
    });
    this.logger.log({ msg: 'created a policy', policy: spec.name, activated: spec.activate });
    if (spec.activate) this.listener.activated(spec.name);
    return result;
  }

  /** Adds the next revision. Throws POLICY_NOT_FOUND, POLICY_COMPILE. */
  async addRevision(name: string, spec: RevisionSpec, createdBy: string | null): Promise<RevisionView> {
    const policy = await this.policy(name);
    const previous = await this.dataSource.getRepository(PolicyRevision).findOne({
      where: { policyId: policy.id, revision: policy.latestRevision },
      select: { entrypoints: true, id: true },
    });
    const entrypoints = spec.entrypoints ?? previous?.entrypoints ?? [DEFAULT_ENTRYPOINT];
    const compiled = await this.compiler.compile({ modules: spec.modules, entrypoints, inputPaths: true });
    const now = this.clock.now();
    const view = await this.dataSource.transaction(async (manager) => {
      const locked = await manager
        .getRepository(Policy)
        .findOne({ where: { id: policy.id }, lock: { mode: 'pessimistic_write' } });
      if (!locked) throw notFound(name);
      const number = locked.latestRevision + 1;
      const revision = await this.insertRevision(
        manager,
        locked,
        number,
        { ...spec, entrypoints },
        compiled,
        createdBy,
        now,
      );
      locked.latestRevision = number;
      locked.updatedAt = now;
      await manager.getRepository(Policy).save(locked);
      if (spec.activate) await this.switchActive(manager, locked, revision, now);
      return revisionView(revision);
    });
    this.logger.log({
      msg: 'added a policy revision',
      policy: name,
      revision: view.revision,
      activated: spec.activate,
    });
    if (spec.activate) this.listener.activated(name);
    return view;
  }

  /** Makes revision `number` the active one (the previously active becomes superseded); idempotent. */
  async activate(name: string, number: number): Promise<RevisionView> {
    const now = this.clock.now();
    const view = await this.dataSource.transaction(async (manager) => {
      const policy = await manager
        .getRepository(Policy)
        .findOne({ where: { name }, lock: { mode: 'pessimistic_write' } });
      if (!policy) throw notFound(name);
      const revision = await manager
        .getRepository(PolicyRevision)
        .findOne({ where: { policyId: policy.id, revision: number } });
      if (!revision) throw revisionNotFound(name, number);
      if (policy.activeRevision !== number) await this.switchActive(manager, policy, revision, now);
      return revisionView(revision);
    });
    this.logger.log({ msg: 'activated a policy revision', policy: name, revision: number });
    this.listener.activated(name);
    return view;
  }

  async list(): Promise<PolicyView[]> {
    const policies = await this.dataSource.getRepository(Policy).find({ order: { name: 'ASC' } });
    return policies.map(policyView);
  }

  async get(name: string): Promise<PolicyView & { revisions: RevisionSummary[] }> {
    const policy = await this.policy(name);
    const revisions = await this.dataSource.getRepository(PolicyRevision).find({
      where: { policyId: policy.id },
      order: { revision: 'DESC' },
      select: {
        id: true,
        revision: true,
        status: true,
        entrypoints: true,
        wasmSha256: true,
        capabilitiesSha256: true,
        opaVersion: true,
        inputPaths: true,
        createdBy: true,
        createdAt: true,
        activatedAt: true,
      },
    });
    return { ...policyView(policy), revisions: revisions.map(revisionSummary) };
  }

  async getRevision(name: string, number: number): Promise<RevisionView> {
    return revisionView(await this.revision(name, number));
  }

  /** Runs the revision's `_test.rego` files with `opa test`. */
  async test(name: string, number: number): Promise<TestReport> {
    const revision = await this.revision(name, number);
    return this.compiler.test({ modules: revision.modules, tests: revision.tests, data: revision.data });
  }

  /** A revision with its wasm, for evaluation: the given number, or the active one. */
  async revision(name: string, number?: number): Promise<PolicyRevision> {
    const policy = await this.policy(name);
    const wanted = number ?? policy.activeRevision;
    if (wanted === null) {
      throw new PolicyError('POLICY_NOT_ACTIVE', `policy ${name} has no active revision: activate one first`);
    }
    const revision = await this.dataSource
      .getRepository(PolicyRevision)
      .findOne({ where: { policyId: policy.id, revision: wanted } });
    if (!revision) throw revisionNotFound(name, wanted);
    return revision;
  }

  private async policy(name: string): Promise<Policy> {
    const policy = await this.dataSource.getRepository(Policy).findOne({ where: { name } });
    if (!policy) throw notFound(name);
    return policy;
  }

  private insertRevision(
    manager: EntityManager,
    policy: Policy,
    number: number,
    spec: RevisionSpec & { entrypoints: string[] },
    compiled: CompiledPolicy,
    createdBy: string | null,
    now: Date,
  ): Promise<PolicyRevision> {
    return manager.getRepository(PolicyRevision).save({
      policyId: policy.id,
      revision: number,
      status: 'draft',
      entrypoints: spec.entrypoints,
      modules: spec.modules,
      tests: spec.tests,
      data: spec.data,
      wasm: compiled.wasm,
      wasmSha256: createHash('sha256').update(compiled.wasm).digest('hex'),
      capabilitiesSha256: compiled.capabilitiesSha256,
      opaVersion: compiled.opaVersion,
      inputPaths: compiled.inputPaths?.map((path) => [...path]) ?? null,
      createdBy,
      createdAt: now,
      activatedAt: null,
    });
  }

  private async switchActive(
    manager: EntityManager,
    policy: Policy,
    revision: PolicyRevision,
    now: Date,
  ): Promise<void> {
    const revisions = manager.getRepository(PolicyRevision);
    await revisions.update({ policyId: policy.id, status: 'active' }, { status: 'superseded' });
    await revisions.update({ id: revision.id }, { status: 'active', activatedAt: now });
    revision.status = 'active';
    revision.activatedAt = now;
    await manager
      .getRepository(Policy)
      .update({ id: policy.id }, { activeRevision: revision.revision, updatedAt: now });
    policy.activeRevision = revision.revision;
  }
}

function notFound(name: string): PolicyError {
  return new PolicyError('POLICY_NOT_FOUND', `no policy named ${name}`);
}

function revisionNotFound(name: string, revision: number): PolicyError {
  return new PolicyError('REVISION_NOT_FOUND', `policy ${name} has no revision ${revision}`);
}

function exists(name: string): PolicyError {
  return new PolicyError('POLICY_EXISTS', `a policy named ${name} exists; add a revision to it instead`);
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string; driverError?: { code?: string } })?.driverError?.code === '23505';
}
