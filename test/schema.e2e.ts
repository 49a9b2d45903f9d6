import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDataSource } from '#libs/db';
import { createTestDatabase, ServiceProcess, type TestDatabase } from '#libs/testing';
import { ENTITIES, MIGRATIONS } from '../migrations';

/** The schema changes only through migrations: they must build exactly what the entities describe. */
describe('schema migrations', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db?.drop());

  const dataSource = () =>
    createDataSource({ url: db.url, entities: ENTITIES, migrations: MIGRATIONS, applicationName: 'bowline-test' });

  it('agree with the entities (no drift)', async () => {
    const ds = await dataSource().initialize();
    try {
      await ds.runMigrations({ transaction: 'each' });
      const pending = await ds.driver.createSchemaBuilder().log();
      const statements = pending.upQueries.map((q) => q.query);
      assert.deepEqual(
        statements,
        [],
        `entities and migrations disagree; the entities would need:\n${statements.join(';\n')}`,
      );
    } finally {
      await ds.destroy();
    }
  });

  it('each revert cleanly, leaving no table behind', async () => {
    const ds = await dataSource().initialize();
    try {
      await ds.runMigrations({ transaction: 'each' });
      for (let i = 0; i < MIGRATIONS.length; i++) await ds.undoLastMigration({ transaction: 'each' });
      const tables = await ds.query(
        `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'bowline_migrations'`,
      );
      assert.deepEqual(tables, []);
      assert.equal(await ds.showMigrations(), true, 'every migration is pending again');
      await ds.runMigrations({ transaction: 'each' });
      assert.equal(await ds.showMigrations(), false, 're-applying after a full revert works');
    } finally {
      await ds.destroy();
    }
  });

  it('keep a service not-ready until they are applied', async () => {
    const fresh = await createTestDatabase();
    const service = await ServiceProcess.spawn('galley', { DATABASE_URL: fresh.url });
    try {
      await service.waitFor('/healthz', 200);
      await service.waitFor('/readyz', 503);
      const problem = await (await fetch(`${service.adminUrl}/readyz`)).json();
      assert.deepEqual((problem as { checks: unknown }).checks, { database: 'ok', migrations: 'pending' });
      assert.match(await service.grpcurl('-d', '{}', 'grpc.health.v1.Health/Check'), /NOT_SERVING/);
      await fresh.migrate();
      await service.waitFor('/readyz', 200);
    } finally {
      await service.stop();
      await fresh.drop();
    }
  });
});
