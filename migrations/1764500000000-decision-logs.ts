import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Policy decision logs: one row per decision (masked input), indexed for the query API and replay. */
export class DecisionLogs1764500000000 implements MigrationInterface {
  name = 'DecisionLogs1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "policy_decision_logs" (
        "id" bigserial NOT NULL,
        "decision_id" varchar(128) NOT NULL,
        "decided_at" timestamptz NOT NULL,
        "request_id" varchar(256),
        "source_principal" varchar(2048),
        "destination" varchar(2048),
        "method" varchar(32),
        "path" varchar(2048),
        "host" varchar(1024),
        "allowed" boolean NOT NULL,
        "http_status" integer,
        "policy" varchar(253),
        "revision" integer,
        "decision" jsonb,
        "input" jsonb NOT NULL,
        "reason" varchar(1024),
        "reporter" varchar(256) NOT NULL,
        "requested_by" varchar(256),
        "eval_duration_us" integer,
        "metrics" jsonb,
        "received_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_policy_decision_logs" PRIMARY KEY ("id"),
        CONSTRAINT "ck_policy_decision_logs_http_status" CHECK ("http_status" BETWEEN 100 AND 599)
      )`);
    const index = (name: string, columns: string, unique = false) =>
      q.query(`CREATE ${unique ? 'UNIQUE ' : ''}INDEX "${name}" ON "policy_decision_logs" (${columns})`);
    await index('uq_policy_decision_logs_decision_id', '"decision_id"', true);
    await index('ix_policy_decision_logs_decided_at', '"decided_at", "id"');
    await index('ix_policy_decision_logs_principal', '"source_principal", "decided_at"');
    await index('ix_policy_decision_logs_destination', '"destination", "decided_at"');
    await index('ix_policy_decision_logs_request_id', '"request_id"');
    await index('ix_policy_decision_logs_policy', '"policy", "revision", "decided_at"');
    await index('ix_policy_decision_logs_path', '"path", "decided_at"');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "policy_decision_logs"`);
  }
}
