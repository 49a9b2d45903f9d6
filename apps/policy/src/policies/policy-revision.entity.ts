import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { Policy } from './policy.entity';

/** draft: compiled, never active; active: the one being evaluated; superseded: was active before. */
export type RevisionStatus = 'draft' | 'active' | 'superseded';

/**
 * One immutable revision of a policy: its Rego sources, tests and data, and the WebAssembly
 * OPA compiled them to. Only revisions that compiled are stored.
 */
@Entity({ name: 'policy_revisions' })
@Check('ck_policy_revisions_status', `"status" IN ('draft', 'active', 'superseded')`)
@Index('uq_policy_revisions_policy_revision', ['policyId', 'revision'], { unique: true })
export class PolicyRevision {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'policy_id', type: 'uuid' })
  policyId!: string;

  @ManyToOne(() => Policy, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'policy_id', foreignKeyConstraintName: 'fk_policy_revisions_policy' })
  policy?: Policy;

  @Column({ type: 'integer' })
  revision!: number;

  @Column({ type: 'varchar', length: 16 })
  status!: RevisionStatus;

  /** Decision paths compiled in, e.g. `envoy/authz/allow`; the first is the decision. */
  @Column({ type: 'jsonb' })
  entrypoints!: string[];

  /** Rego modules by file name. */
  @Column({ type: 'jsonb' })
  modules!: Record<string, string>;

  /** `_test.rego` modules by file name (run by `:test`, not compiled into the wasm). */
  @Column({ type: 'jsonb' })
  tests!: Record<string, string>;

  /** The base data document (`data`). */
  @Column({ type: 'jsonb' })
  data!: Record<string, unknown>;

  @Column({ type: 'bytea' })
  wasm!: Buffer;

  @Column({ name: 'wasm_sha256', type: 'char', length: 64 })
  wasmSha256!: string;

  /** SHA-256 of the capabilities file it was compiled against (the built-ins allowed). */
  @Column({ name: 'capabilities_sha256', type: 'char', length: 64 })
  capabilitiesSha256!: string;

  @Column({ name: 'opa_version', type: 'varchar', length: 32 })
  opaVersion!: string;

  /**
   * The parts of the input its decision can depend on (found in OPA's plan when it compiled);
   * `null`: any part. Proxies keep decisions by these parts.
   */
  @Column({ name: 'input_paths', type: 'jsonb', nullable: true })
  inputPaths!: string[][] | null;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdBy!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'activated_at', type: 'timestamptz', nullable: true })
  activatedAt!: Date | null;
}
