import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** A named policy: a sequence of immutable revisions, at most one of them active. */
@Entity({ name: 'policy_policies' })
export class Policy {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Index('uq_policy_policies_name', { unique: true })
  @Column({ type: 'varchar', length: 253 })
  name!: string;

  @Column({ type: 'varchar', length: 1024, nullable: true })
  description!: string | null;

  /** The revision number ext_authz and `/v1/authz/check` evaluate; null until one is activated. */
  @Column({ name: 'active_revision', type: 'integer', nullable: true })
  activeRevision!: number | null;

  /** The highest revision number so far (revisions are numbered 1, 2, ...). */
  @Column({ name: 'latest_revision', type: 'integer' })
  latestRevision!: number;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdBy!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
