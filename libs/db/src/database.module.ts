import { type DynamicModule, Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { createDataSource, type DataSourceParams } from './data-source';

export interface DatabaseModuleParams extends DataSourceParams {
  /** How long start-up keeps retrying an unreachable PostgreSQL before giving up. */
  connectTimeoutMs?: number;
}

/**
 * Provides the process's DataSource (inject `DataSource`), connected before the application
 * starts, and closes it last on shutdown.
 */
@Global()
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');

  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  static forRoot(params: DatabaseModuleParams): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        {
          provide: DataSource,
          useFactory: () => connect(createDataSource(params), params.connectTimeoutMs ?? 30_000),
        },
      ],
      exports: [DataSource],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) {
      await this.dataSource.destroy();
      this.logger.log('database connections closed');
    }
  }
}

/** Connects with exponential backoff; throws with the last reason once `timeoutMs` has passed. */
async function connect(dataSource: DataSource, timeoutMs: number): Promise<DataSource> {
  const logger = new Logger('Database');
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await dataSource.initialize();
      logger.log('connected to PostgreSQL');
      return dataSource;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const delay = Math.min(5_000, 250 * 2 ** attempt);
      if (Date.now() + delay > deadline) {
        throw new Error(`cannot connect to PostgreSQL (DATABASE_URL): ${reason}`, { cause: error });
      }
      logger.warn({ msg: 'PostgreSQL is not reachable yet; retrying', attempt, retryInMs: delay, reason });
      await sleep(delay);
    }
  }
}
