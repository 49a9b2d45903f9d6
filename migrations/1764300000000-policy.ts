import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Policy's tables: policies and their immutable revisions (Rego sources and compiled wasm). */
export class Policy1764300000000 implements MigrationInterface {
  name = 'Policy1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "policy_policies" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "name" varchar(253) NOT NULL,
        "description" varchar(1024),
        "active_revision" integer,
        "latest_revision" integer NOT NULL,
        "created_by" uuid,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL,
        CONSTRAINT "pk_policy_policies" PRIMARY KEY ("id")
      )`);
    await q.query(`CREATE UNIQUE INDEX "uq_policy_policies_name" ON "policy_policies" ("name")`);
    await q.query(`
      CREATE TABLE "policy_revisions" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "policy_id" uuid NOT NULL,
        "revision" integer NOT NULL,
        "status" varchar(16) NOT NULL,
        "entrypoints" jsonb NOT NULL,
        "modules" jsonb NOT NULL,
        "tests" jsonb NOT NULL,
        "data" jsonb NOT NULL,
        "wasm" bytea NOT NULL,
        "wasm_sha256" char(64) NOT NULL,
        "capabilities_sha256" char(64) NOT NULL,
        "opa_version" varchar(32) NOT NULL,
        "created_by" uuid,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "activated_at" timestamptz,
        CONSTRAINT "pk_policy_revisions" PRIMARY KEY ("id"),
        CONSTRAINT "ck_policy_revisions_status" CHECK ("status" IN ('draft', 'active', 'superseded')),
        CONSTRAINT "fk_policy_revisions_policy" FOREIGN KEY ("policy_id")
          REFERENCES "policy_policies" ("id") ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE UNIQUE INDEX "uq_policy_revisions_policy_revision" ON "policy_revisions" ("policy_id", "revision")`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "policy_revisions"`);
    await q.query(`DROP TABLE "policy_policies"`);
  }
}
