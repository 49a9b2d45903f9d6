import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ApiTokens1764000000000 implements MigrationInterface {
  name = 'ApiTokens1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "api_tokens" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "name" varchar(128) NOT NULL,
        "role" varchar(16) NOT NULL,
        "token_hash" char(64) NOT NULL,
        "token_prefix" varchar(16) NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "created_by" uuid,
        "expires_at" timestamptz,
        "revoked_at" timestamptz,
        "last_used_at" timestamptz,
        CONSTRAINT "pk_api_tokens" PRIMARY KEY ("id"),
        CONSTRAINT "ck_api_tokens_role" CHECK ("role" IN ('viewer', 'operator', 'admin'))
      )`);
    await q.query(`CREATE UNIQUE INDEX "uq_api_tokens_token_hash" ON "api_tokens" ("token_hash")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "api_tokens"`);
  }
}
