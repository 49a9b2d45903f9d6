import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ENTITIES, MIGRATIONS } from '../../../migrations';
import { createDataSource } from '#libs/db';

/** A database of its own for one test file, dropped afterwards. */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** Applies every migration. */
  migrate(): Promise<void>;
  /** Runs SQL on it (one short connection). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/** The server the test command provides (DATABASE_URL, or the embedded one it started). */
export function testServerUrl(): string {
  const url = process.env.BOWLINE_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('no PostgreSQL for tests: run them with `npm test` (it starts one) or set DATABASE_URL');
  return url;
}

export async function createTestDatabase(prefix = 'bowline_t'): Promise<TestDatabase> {
  const server = new URL(testServerUrl());
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await withClient(server.toString(), (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(server.toString());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    migrate: async () => {
      const ds = createDataSource({
        url: url.toString(),
        entities: ENTITIES,
        migrations: MIGRATIONS,
        applicationName: 'bowline-test',
      });
      await ds.initialize();
      try {
        await ds.runMigrations({ transaction: 'each' });
      } finally {
        await ds.destroy();
      }
    },
    query: (sql, params) => withClient(url.toString(), async (c) => (await c.query(sql, params)).rows),
    drop: () =>
      withClient(server.toString(), (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
