import 'reflect-metadata';
import { ConfigError, configFromEnv, schemas } from '#libs/config';
import { ENTITIES, MIGRATIONS } from '../../../migrations';
import { createDataSource } from './data-source';

const USAGE = 'usage: migrate <run|revert|show>';

/** The migration CLI behind `npm run migration:run|revert|show`, on the services' DataSource factory. */
async function main(command: string | undefined): Promise<number> {
  if (command !== 'run' && command !== 'revert' && command !== 'show') {
    process.stderr.write(`${USAGE}\n`);
    return 64;
  }
  let url: string;
  try {
    url = configFromEnv(schemas.database).databaseUrl;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78;
    }
    throw error;
  }
  const dataSource = createDataSource({
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    applicationName: 'bowline-migrate',
  });
  await dataSource.initialize();
  try {
    if (command === 'run') {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      process.stdout.write(
        applied.length ? applied.map((m) => `applied ${m.name}\n`).join('') : 'schema is up to date\n',
      );
    } else if (command === 'revert') {
      const before = await appliedNames(dataSource);
      await dataSource.undoLastMigration({ transaction: 'each' });
      const after = await appliedNames(dataSource);
      const reverted = before.filter((name) => !after.includes(name));
      process.stdout.write(reverted.length ? `reverted ${reverted.join(', ')}\n` : 'nothing to revert\n');
    } else {
      const applied = await appliedNames(dataSource);
      for (const migration of MIGRATIONS) {
        const name = (migration as { name: string }).name;
        process.stdout.write(`${applied.includes(name) ? '[X]' : '[ ]'} ${name}\n`);
      }
    }
  } finally {
    await dataSource.destroy();
  }
  return 0;
}

async function appliedNames(dataSource: ReturnType<typeof createDataSource>): Promise<string[]> {
  const exists = await dataSource.query(`SELECT to_regclass('bowline_migrations') AS t`);
  if (!exists[0].t) return [];
  const rows: { name: string }[] = await dataSource.query('SELECT name FROM bowline_migrations ORDER BY id');
  return rows.map((r) => r.name);
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`migration failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
