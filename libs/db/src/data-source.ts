import { DataSource, type MixedList, type EntitySchema } from 'typeorm';

export interface DataSourceParams {
  /** PostgreSQL connection URL. */
  url: string;
  /** Entities this process reads and writes. */
  entities: MixedList<Function | string | EntitySchema>;
  /** All migrations, so readiness can tell whether the schema is current. */
  migrations: MixedList<Function | string>;
  /** Shown in `pg_stat_activity.application_name`. */
  applicationName: string;
  /** Connection pool size. */
  poolSize?: number;
}

export const MIGRATIONS_TABLE = 'bowline_migrations';

/**
 * The one DataSource factory, used by every service and by the migration CLI. The schema is
 * never synchronised from entities: it changes only through `migrations/`.
 */
export function createDataSource(params: DataSourceParams): DataSource {
  return new DataSource({
    type: 'postgres',
    url: params.url,
    entities: params.entities,
    migrations: params.migrations,
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    applicationName: params.applicationName,
    poolSize: params.poolSize ?? 10,
    extra: { connectionTimeoutMillis: 5_000 },
  });
}
