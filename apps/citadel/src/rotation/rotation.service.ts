import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager, In } from 'typeorm';
import { BowlineError, Kinds } from '#libs/errors';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import type { CitadelConfig } from '../config';
import { CaEventBus } from '../events/event-bus';
import { IssuedCertificate } from '../inventory/issued-certificate.entity';
import { RevocationService } from '../inventory/revocation.service';
import { CA_LOCK, type CaParams, createIntermediate, createRoot, findOne } from '../keys/authority.store';
import { CaAuthority } from '../keys/ca-authority.entity';
import { installPlugIn, type PluggedInCa, validatePlugIn } from '../keys/plug-in';
import { SigningService } from '../signing/signing.service';
import { Rotation } from './rotation.entity';

export interface RotationView {
  id: string;
  kind: Rotation['kind'];
  spiffeId: string | null;
  state: Rotation['state'];
  dueAt: string | null;
  requestedAt: string;
  completedAt: string | null;
}

/**
 * Rotation through endpoints: an identity (re-key now, revoke the superseded certificates
 * after a grace period), the intermediate (new signer under the same root), and the root
 * (the new root joins the trust bundle first; signing switches after a distribution delay;
 * the old root stays trusted until every leaf under it has expired).
 */
@Injectable()
export class RotationService {
  private readonly logger = new Logger('Rotation');

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CaEventBus) private readonly events: CaEventBus,
    @Inject(SigningService) private readonly signing: SigningService,
    @Inject(RevocationService) private readonly revocation: RevocationService,
    @Inject(SERVICE_CONFIG) private readonly config: CitadelConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async rotateIdentity(
    identity: { namespace: string; serviceAccount: string },
    graceSeconds: number,
    by?: string,
  ): Promise<RotationView> {
    const spiffeId = this.signing.spiffeIdOf(identity);
    const now = this.clock.now();
    return this.dataSource.transaction(async (manager) => {
      const rotation = await manager.getRepository(Rotation).save({
        kind: 'identity',
        spiffeId,
        state: 'pending',
        dueAt: new Date(now.getTime() + graceSeconds * 1000),
        requestedBy: by ?? null,
        requestedAt: now,
      });
      await this.events.publish(manager, { type: 'rotate-now', spiffeId, reason: 'rotated by an operator' });
      this.logger.log({ msg: 'identity rotation requested', spiffeId, graceSeconds });
      return toView(rotation);
    });
  }

  async rotateIntermediate(by?: string): Promise<RotationView> {
    return this.underLock(async (manager, params) => {
      const root = await findOne(manager, 'root', 'active');
      const old = await findOne(manager, 'intermediate', 'active');
      if (!root || !old) throw new BowlineError(Kinds.CONFLICT, 'there is no active CA to rotate');
      await manager.getRepository(CaAuthority).update({ id: old.id }, { status: 'retired' });
      const created = await createIntermediate(manager, root, params, 'active');
      const rotation = await this.record(manager, 'intermediate', 'completed', null, by);
      await this.events.publish(manager, { type: 'ca-changed' });
      this.logger.log({ msg: 'intermediate rotated', old: old.serialHex, new: created.serialHex });
      return rotation;
    });
  }

  /** Starts a root rotation; signing switches once `distributionSeconds` have passed. */
  async rotateRoot(distributionSeconds: number, by?: string): Promise<RotationView> {
    const view = await this.underLock(async (manager, params) => {
      const pending = await manager.getRepository(Rotation).findOne({ where: { kind: 'root', state: 'pending' } });
      if (pending) throw new BowlineError(Kinds.CONFLICT, `a root rotation is already in progress (${pending.id})`);
      const root = await createRoot(manager, params, 'pending');
      await createIntermediate(manager, root, params, 'pending');
      const due = new Date(params.now.getTime() + distributionSeconds * 1000);
      const rotation = await this.record(manager, 'root', 'pending', due, by);
      await this.events.publish(manager, { type: 'ca-changed' });
      this.logger.log({
        msg: 'root rotation started: new root added to the trust bundle',
        root: root.serialHex,
        switchAt: due,
      });
      return rotation;
    });
    if (distributionSeconds === 0) await this.runDue();
    return this.get(view.id);
  }

  /** Installs operator-supplied CA material (Istio cacerts) as the signer; the old root stays trusted. */
  async plugIn(material: PluggedInCa, by?: string): Promise<RotationView> {
    const validated = validatePlugIn(material);
    return this.underLock(async (manager, params) => {
      const before = await findOne(manager, 'root', 'active');
      const installed = await installPlugIn(manager, validated, params.kek, params.now);
      const rootChanged = before?.id !== installed.parentId;
      const rotation = await this.record(manager, rootChanged ? 'root' : 'intermediate', 'completed', null, by);
      await this.events.publish(manager, { type: 'ca-changed' });
      this.logger.log({ msg: 'plugged-in CA installed', intermediate: installed.serialHex, rootChanged });
      return rotation;
    });
  }

  /** Runs every pending step whose time has come (called by the sweeper; safe on every replica). */
  async runDue(): Promise<void> {
    const due = await this.dataSource.transaction(async (manager) =>
      manager
        .getRepository(Rotation)
        .createQueryBuilder('r')
        .setLock('pessimistic_write')
        .setOnLocked('skip_locked')
        .where("r.state = 'pending' AND r.due_at <= :now", { now: this.clock.now() })
        .getMany(),
    );
    for (const rotation of due) {
      if (rotation.kind === 'identity') await this.finishIdentity(rotation);
      if (rotation.kind === 'root') await this.switchRoot(rotation);
    }
  }

  /** Starts a root rotation by itself when the active root has lived 80% of its life. */
  async rotateAgingRoot(): Promise<void> {
    const root = await findOne(this.dataSource.manager, 'root', 'active');
    if (!root) return;
    const life = root.notAfter.getTime() - root.notBefore.getTime();
    if (this.clock.now().getTime() < root.notBefore.getTime() + 0.8 * life) return;
    const pending = await this.dataSource.getRepository(Rotation).exists({ where: { kind: 'root', state: 'pending' } });
    if (!pending) await this.rotateRoot(this.config.rootDistributionDelay / 1000).catch(() => undefined);
  }

  async list(): Promise<RotationView[]> {
    const rows = await this.dataSource.getRepository(Rotation).find({ order: { requestedAt: 'DESC' }, take: 50 });
    return rows.map(toView);
  }

  async get(id: string): Promise<RotationView> {
    return toView(await this.dataSource.getRepository(Rotation).findOneByOrFail({ id }));
  }

  private async finishIdentity(rotation: Rotation): Promise<void> {
    const revoked = await this.revocation.revokeWhere(
      { spiffeId: rotation.spiffeId ?? '', issuedBefore: rotation.requestedAt },
      'superseded',
    );
    await this.complete(rotation.id);
    this.logger.log({ msg: 'identity rotation completed', spiffeId: rotation.spiffeId, revoked: revoked.length });
  }

  private async switchRoot(rotation: Rotation): Promise<void> {
    await this.underLock(async (manager, params) => {
      const repo = manager.getRepository(CaAuthority);
      const oldRoot = await findOne(manager, 'root', 'active');
      const newRoot = await findOne(manager, 'root', 'pending');
      const newIntermediate = await findOne(manager, 'intermediate', 'pending');
      if (!oldRoot || !newRoot || !newIntermediate) throw new Error('root rotation state is inconsistent');
      const oldIntermediates = await repo.find({ where: { parentId: oldRoot.id } });
      const lastLeaf = await manager
        .getRepository(IssuedCertificate)
        .createQueryBuilder('c')
        .select('MAX(c.not_after)', 'max')
        .where({ issuerId: In(oldIntermediates.map((i) => i.id)) })
        .getRawOne<{ max: Date | null }>();
      const trustedUntil = new Date(
        Math.max(params.now.getTime(), lastLeaf?.max ? new Date(lastLeaf.max).getTime() : 0),
      );
      await repo.update({ id: In(oldIntermediates.map((i) => i.id)) }, { status: 'retired' });
      await repo.update({ id: oldRoot.id }, { status: 'retired', trustedUntil });
      await repo.update({ id: In([newRoot.id, newIntermediate.id]) }, { status: 'active' });
      await manager
        .getRepository(Rotation)
        .update({ id: rotation.id }, { state: 'completed', completedAt: params.now });
      await this.events.publish(manager, { type: 'ca-changed' });
      this.logger.log({ msg: 'root rotation: now signing under the new root', oldRootTrustedUntil: trustedUntil });
    });
  }

  private async complete(id: string): Promise<void> {
    await this.dataSource.getRepository(Rotation).update({ id }, { state: 'completed', completedAt: this.clock.now() });
  }

  private async record(
    manager: EntityManager,
    kind: Rotation['kind'],
    state: Rotation['state'],
    dueAt: Date | null,
    by?: string,
  ) {
    const now = this.clock.now();
    const saved = await manager.getRepository(Rotation).save({
      kind,
      spiffeId: null,
      state,
      dueAt,
      requestedBy: by ?? null,
      requestedAt: now,
      completedAt: state === 'completed' ? now : null,
    });
    return toView(saved);
  }

  private underLock<T>(work: (manager: EntityManager, params: CaParams) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [CA_LOCK]);
      return work(manager, {
        kek: this.config.kekResolved,
        trustDomain: this.config.trustDomain,
        keyType: this.config.caKeyType,
        rootTtlSeconds: Math.floor(this.config.rootTtl / 1000),
        intermediateTtlSeconds: Math.floor(this.config.intermediateTtl / 1000),
        now: this.clock.now(),
      });
    });
  }
}

function toView(rotation: Rotation): RotationView {
  return {
    id: rotation.id,
    kind: rotation.kind,
    spiffeId: rotation.spiffeId,
    state: rotation.state,
    dueAt: rotation.dueAt?.toISOString() ?? null,
    requestedAt: rotation.requestedAt.toISOString(),
    completedAt: rotation.completedAt?.toISOString() ?? null,
  };
}
