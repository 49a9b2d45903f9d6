import type { DataSource } from 'typeorm';

export interface ReadinessReport {
  ready: boolean;
  checks: { database: 'ok' | 'unreachable'; migrations: 'ok' | 'pending' | 'unknown' };
}

/** Ready means: PostgreSQL answers and no migration is pending. */
export async function checkReadiness(dataSource: DataSource): Promise<ReadinessReport> {
  if (!dataSource.isInitialized) {
    return { ready: false, checks: { database: 'unreachable', migrations: 'unknown' } };
  }
  try {
    await dataSource.query('SELECT 1');
  } catch {
    return { ready: false, checks: { database: 'unreachable', migrations: 'unknown' } };
  }
  try {
    const pending = await dataSource.showMigrations();
    return { ready: !pending, checks: { database: 'ok', migrations: pending ? 'pending' : 'ok' } };
  } catch {
    return { ready: false, checks: { database: 'ok', migrations: 'unknown' } };
  }
}
