import {
  type DynamicModule,
  Inject,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { AdminAuthGuard } from './admin-auth.guard';
import { type BootstrapTokenParams, ensureBootstrapToken } from './bootstrap-token';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';

const BOOTSTRAP_PARAMS = Symbol('BOOTSTRAP_PARAMS');

/** Admin authentication for every HTTP route of a service, plus the token API. */
@Module({})
export class AuthModule implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('AdminBootstrap');
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(BOOTSTRAP_PARAMS) private readonly bootstrap: BootstrapTokenParams,
  ) {}

  static forRoot(bootstrap: BootstrapTokenParams): DynamicModule {
    return {
      module: AuthModule,
      controllers: [TokensController],
      providers: [
        TokensService,
        { provide: BOOTSTRAP_PARAMS, useValue: bootstrap },
        { provide: APP_GUARD, useClass: AdminAuthGuard },
      ],
      exports: [TokensService],
    };
  }

  private retry?: NodeJS.Timeout;

  /**
   * Runs the bootstrap once the schema is current. Before migrations are applied the service
   * still starts (and reports not-ready), so this waits rather than failing start-up.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (await this.dataSource.showMigrations()) {
      this.logger.warn('schema migrations are pending; the bootstrap admin token waits for them');
      this.retry = setTimeout(() => void this.onApplicationBootstrap().catch((e) => this.logger.error(e)), 2_000);
      this.retry.unref();
      return;
    }
    await ensureBootstrapToken(this.dataSource, this.bootstrap);
  }

  onModuleDestroy(): void {
    clearTimeout(this.retry);
  }
}
