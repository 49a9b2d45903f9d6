import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type RotationKind = 'identity' | 'intermediate' | 'root';

/**
 * A rotation an operator (or the root-age check) asked for. A pending rotation has one step
 * left, run once `dueAt` has passed: for an identity, revoke its superseded certificates (the
 * grace period lets proxies re-key first); for a root, switch signing to the new root (the
 * delay lets every proxy receive the new root first).
 */
@Entity({ name: 'citadel_rotations' })
@Check('ck_citadel_rotations_kind', `"kind" IN ('identity', 'intermediate', 'root')`)
@Check('ck_citadel_rotations_state', `"state" IN ('pending', 'completed')`)
@Index('ix_citadel_rotations_state', ['state'])
export class Rotation {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: RotationKind;

  @Column({ name: 'spiffe_id', type: 'varchar', length: 2048, nullable: true })
  spiffeId!: string | null;

  @Column({ type: 'varchar', length: 16 })
  state!: 'pending' | 'completed';

  @Column({ name: 'due_at', type: 'timestamptz', nullable: true })
  dueAt!: Date | null;

  @Column({ name: 'requested_by', type: 'uuid', nullable: true })
  requestedBy!: string | null;

  @CreateDateColumn({ name: 'requested_at', type: 'timestamptz' })
  requestedAt!: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;
}
