import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Galley's tables: live config resources, the versioned change log, and the version state. */
export class Galley1764200000000 implements MigrationInterface {
  name = 'Galley1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE SEQUENCE "galley_resource_version_seq" AS bigint START WITH 1 MINVALUE 1`);
    await q.query(`
      CREATE TABLE "galley_resources" (
        "kind" varchar(64) NOT NULL,
        "namespace" varchar(63) NOT NULL,
        "name" varchar(253) NOT NULL,
        "api_version" varchar(128) NOT NULL,
        "resource_version" bigint NOT NULL,
        "labels" jsonb NOT NULL,
        "object" jsonb NOT NULL,
        "source" varchar(1024) NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_galley_resources" PRIMARY KEY ("kind", "namespace", "name")
      )`);
    await q.query(
      `CREATE UNIQUE INDEX "uq_galley_resources_resource_version" ON "galley_resources" ("resource_version")`,
    );
    await q.query(`CREATE INDEX "ix_galley_resources_source" ON "galley_resources" ("source")`);
    await q.query(`
      CREATE TABLE "galley_changes" (
        "version" bigint NOT NULL,
        "kind" varchar(64) NOT NULL,
        "namespace" varchar(63) NOT NULL,
        "name" varchar(253) NOT NULL,
        "operation" varchar(16) NOT NULL,
        "object" jsonb NOT NULL,
        "source" varchar(1024) NOT NULL,
        "changed_at" timestamptz NOT NULL,
        CONSTRAINT "pk_galley_changes" PRIMARY KEY ("version"),
        CONSTRAINT "ck_galley_changes_operation" CHECK ("operation" IN ('ADDED', 'MODIFIED', 'DELETED'))
      )`);
    await q.query(
      `CREATE INDEX "ix_galley_changes_resource" ON "galley_changes" ("kind", "namespace", "name", "version")`,
    );
    await q.query(`CREATE INDEX "ix_galley_changes_changed_at" ON "galley_changes" ("changed_at")`);
    await q.query(`
      CREATE TABLE "galley_state" (
        "id" smallint NOT NULL,
        "current_version" bigint NOT NULL,
        "compacted_version" bigint NOT NULL,
        CONSTRAINT "pk_galley_state" PRIMARY KEY ("id"),
        CONSTRAINT "ck_galley_state_singleton" CHECK ("id" = 1)
      )`);
    await q.query(`INSERT INTO "galley_state" ("id", "current_version", "compacted_version") VALUES (1, 0, 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "galley_state"`);
    await q.query(`DROP TABLE "galley_changes"`);
    await q.query(`DROP TABLE "galley_resources"`);
    await q.query(`DROP SEQUENCE "galley_resource_version_seq"`);
  }
}
