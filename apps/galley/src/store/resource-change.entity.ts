import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type ChangeOperation = 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * The change log: every accepted change with its global version (from the sequence
 * `galley_resource_version_seq`), the operation and the full object after it (before it, for
 * DELETED). Watch replays it; history is pruned after GALLEY_HISTORY_RETENTION.
 */
@Entity({ name: 'galley_changes' })
@Check('ck_galley_changes_operation', `"operation" IN ('ADDED', 'MODIFIED', 'DELETED')`)
@Index('ix_galley_changes_resource', ['kind', 'namespace', 'name', 'version'])
export class GalleyChange {
  @PrimaryColumn({ type: 'bigint' })
  version!: string;

  @Column({ type: 'varchar', length: 64 })
  kind!: string;

  @Column({ type: 'varchar', length: 63 })
  namespace!: string;

  @Column({ type: 'varchar', length: 253 })
  name!: string;

  @Column({ type: 'varchar', length: 16 })
  operation!: ChangeOperation;

  @Column({ type: 'jsonb' })
  object!: Record<string, unknown>;

  @Column({ type: 'varchar', length: 1024 })
  source!: string;

  @Index('ix_galley_changes_changed_at')
  @Column({ name: 'changed_at', type: 'timestamptz' })
  changedAt!: Date;
}

/**
 * One row (id 1): the latest version committed and the compaction point (every change after
 * `compactedVersion` is still in the log). Writers lock it, so versions commit in order.
 */
@Entity({ name: 'galley_state' })
@Check('ck_galley_state_singleton', `"id" = 1`)
export class GalleyState {
  @PrimaryColumn({ type: 'smallint' })
  id!: number;

  @Column({ name: 'current_version', type: 'bigint' })
  currentVersion!: string;

  @Column({ name: 'compacted_version', type: 'bigint' })
  compactedVersion!: string;
}
