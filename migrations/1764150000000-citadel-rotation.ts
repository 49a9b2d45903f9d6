import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Citadel rotation: CA phases (pending/active/retired with a trust horizon) and rotation requests. */
export class CitadelRotation1764150000000 implements MigrationInterface {
  name = 'CitadelRotation1764150000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "citadel_authorities" DROP CONSTRAINT "ck_citadel_authorities_status"`);
    await q.query(
      `ALTER TABLE "citadel_authorities" ADD CONSTRAINT "ck_citadel_authorities_status" CHECK ("status" IN ('pending', 'active', 'retired'))`,
    );
    await q.query(`ALTER TABLE "citadel_authorities" ADD "trusted_until" timestamptz`);
    await q.query(`
      CREATE TABLE "citadel_rotations" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "kind" varchar(16) NOT NULL,
        "spiffe_id" varchar(2048),
        "state" varchar(16) NOT NULL,
        "due_at" timestamptz,
        "requested_by" uuid,
        "requested_at" timestamptz NOT NULL DEFAULT now(),
        "completed_at" timestamptz,
        CONSTRAINT "pk_citadel_rotations" PRIMARY KEY ("id"),
        CONSTRAINT "ck_citadel_rotations_kind" CHECK ("kind" IN ('identity', 'intermediate', 'root')),
        CONSTRAINT "ck_citadel_rotations_state" CHECK ("state" IN ('pending', 'completed'))
      )`);
    await q.query(`CREATE INDEX "ix_citadel_rotations_state" ON "citadel_rotations" ("state")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "citadel_rotations"`);
    await q.query(`ALTER TABLE "citadel_authorities" DROP COLUMN "trusted_until"`);
    await q.query(`UPDATE "citadel_authorities" SET "status" = 'retired' WHERE "status" = 'pending'`);
    await q.query(`ALTER TABLE "citadel_authorities" DROP CONSTRAINT "ck_citadel_authorities_status"`);
    await q.query(
      `ALTER TABLE "citadel_authorities" ADD CONSTRAINT "ck_citadel_authorities_status" CHECK ("status" IN ('active', 'retired'))`,
    );
  }
}
