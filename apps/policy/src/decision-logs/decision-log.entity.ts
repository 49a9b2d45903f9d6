import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One policy decision, as a proxy or this service made it: who asked for what, the outcome,
 * which policy revision decided, and the input it saw with secrets masked (never stored
 * unmasked). Kept for POLICY_DECISION_LOG_RETENTION.
 */
@Entity({ name: 'policy_decision_logs' })
@Check('ck_policy_decision_logs_http_status', `"http_status" BETWEEN 100 AND 599`)
@Index('uq_policy_decision_logs_decision_id', ['decisionId'], { unique: true })
@Index('ix_policy_decision_logs_decided_at', ['decidedAt', 'id'])
@Index('ix_policy_decision_logs_principal', ['sourcePrincipal', 'decidedAt'])
@Index('ix_policy_decision_logs_destination', ['destination', 'decidedAt'])
@Index('ix_policy_decision_logs_request_id', ['requestId'])
@Index('ix_policy_decision_logs_policy', ['policy', 'revision', 'decidedAt'])
@Index('ix_policy_decision_logs_path', ['path', 'decidedAt'])
export class DecisionLog {
  /** Insertion order; with `decidedAt` it is the paging key. TypeORM reads bigint as a string. */
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id!: string;

  /** The reporter's id for the decision (OPA's `decision_id`); a repeated id is stored once. */
  @Column({ name: 'decision_id', type: 'varchar', length: 128 })
  decisionId!: string;

  /** When the decision was made (millisecond precision). */
  @Column({ name: 'decided_at', type: 'timestamptz' })
  decidedAt!: Date;

  /** `x-request-id` (or Envoy's request id). */
  @Column({ name: 'request_id', type: 'varchar', length: 256, nullable: true })
  requestId!: string | null;

  @Column({ name: 'source_principal', type: 'varchar', length: 2048, nullable: true })
  sourcePrincipal!: string | null;

  /** The called workload: its principal, or its service name. */
  @Column({ type: 'varchar', length: 2048, nullable: true })
  destination!: string | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  method!: string | null;

  /** The HTTP path with its query, cut to 2048 characters (the input keeps it whole). */
  @Column({ type: 'varchar', length: 2048, nullable: true })
  path!: string | null;

  @Column({ type: 'varchar', length: 1024, nullable: true })
  host!: string | null;

  @Column({ type: 'boolean' })
  allowed!: boolean;

  /** The denial's HTTP status when the policy chose one. */
  @Column({ name: 'http_status', type: 'integer', nullable: true })
  httpStatus!: number | null;

  @Column({ type: 'varchar', length: 253, nullable: true })
  policy!: string | null;

  @Column({ type: 'integer', nullable: true })
  revision!: number | null;

  /** The policy's result (the entrypoint's value, OPA's `result`); null when undefined. */
  @Column({ type: 'jsonb', nullable: true })
  decision!: unknown;

  /** The input document, masked. */
  @Column({ type: 'jsonb' })
  input!: unknown;

  /** Why it was denied without a decision (no active policy, evaluation error, ...). */
  @Column({ type: 'varchar', length: 1024, nullable: true })
  reason!: string | null;

  /** Who reported it: a proxy id, or `policy-service`. */
  @Column({ type: 'varchar', length: 256 })
  reporter!: string;

  /** OPA's `requested_by`; `ext_authz` or `authz-check` for this service's own decisions. */
  @Column({ name: 'requested_by', type: 'varchar', length: 256, nullable: true })
  requestedBy!: string | null;

  @Column({ name: 'eval_duration_us', type: 'integer', nullable: true })
  evalDurationMicros!: number | null;

  /** OPA's `metrics` (numbers by name, e.g. `timer_rego_query_eval_ns`). */
  @Column({ type: 'jsonb', nullable: true })
  metrics!: Record<string, number> | null;

  @Column({ name: 'received_at', type: 'timestamptz', default: () => 'now()' })
  receivedAt!: Date;
}
