import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The parts of the input each policy revision's decision can depend on (found in OPA's plan at
 * compile time). Revisions compiled before have none recorded: `NULL`, read as "any part".
 */
export class PolicyInputPaths1764600000000 implements MigrationInterface {
  name = 'PolicyInputPaths1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "policy_revisions" ADD COLUMN "input_paths" jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "policy_revisions" DROP COLUMN "input_paths"`);
  }
}
