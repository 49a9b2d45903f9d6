import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Citadel's tables: CA keys (encrypted), join tokens (hashed), the certificate inventory. */
export class Citadel1764100000000 implements MigrationInterface {
  name = 'Citadel1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "citadel_authorities" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "role" varchar(16) NOT NULL,
        "status" varchar(16) NOT NULL,
        "parent_id" uuid,
        "origin" varchar(16) NOT NULL,
        "cert_pem" text NOT NULL,
        "key_ciphertext" bytea NOT NULL,
        "kek_id" char(16) NOT NULL,
        "serial_hex" varchar(64) NOT NULL,
        "not_before" timestamptz NOT NULL,
        "not_after" timestamptz NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_citadel_authorities" PRIMARY KEY ("id"),
        CONSTRAINT "ck_citadel_authorities_role" CHECK ("role" IN ('root', 'intermediate')),
        CONSTRAINT "ck_citadel_authorities_status" CHECK ("status" IN ('active', 'retired'))
      )`);
    await q.query(`CREATE INDEX "ix_citadel_authorities_role_status" ON "citadel_authorities" ("role", "status")`);
    await q.query(`
      CREATE TABLE "citadel_join_tokens" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "namespace" varchar(253) NOT NULL,
        "service_account" varchar(253) NOT NULL,
        "token_hash" char(64) NOT NULL,
        "token_prefix" varchar(16) NOT NULL,
        "max_uses" integer NOT NULL,
        "uses" integer NOT NULL DEFAULT 0,
        "expires_at" timestamptz NOT NULL,
        "revoked_at" timestamptz,
        "last_used_at" timestamptz,
        "created_by" uuid,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_citadel_join_tokens" PRIMARY KEY ("id")
      )`);
    await q.query(`CREATE UNIQUE INDEX "uq_citadel_join_tokens_token_hash" ON "citadel_join_tokens" ("token_hash")`);
    await q.query(`
      CREATE TABLE "citadel_certificates" (
        "serial_hex" varchar(64) NOT NULL,
        "spiffe_id" varchar(2048) NOT NULL,
        "not_before" timestamptz NOT NULL,
        "not_after" timestamptz NOT NULL,
        "fingerprint_sha256" varchar(95) NOT NULL,
        "issuer_id" uuid NOT NULL,
        "status" varchar(16) NOT NULL,
        "auth_method" varchar(16) NOT NULL,
        "revoked_at" timestamptz,
        "revocation_reason" varchar(64),
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_citadel_certificates" PRIMARY KEY ("serial_hex"),
        CONSTRAINT "ck_citadel_certificates_status" CHECK ("status" IN ('active', 'revoked'))
      )`);
    await q.query(`CREATE INDEX "ix_citadel_certificates_spiffe_id" ON "citadel_certificates" ("spiffe_id")`);
    await q.query(`CREATE INDEX "ix_citadel_certificates_not_after" ON "citadel_certificates" ("not_after")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "citadel_certificates"`);
    await q.query(`DROP TABLE "citadel_join_tokens"`);
    await q.query(`DROP TABLE "citadel_authorities"`);
  }
}
