import { type DynamicModule, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { recordBuildInfo } from './build-info';
import { HttpMetricsMiddleware } from './http-metrics.middleware';
import { MetricsController } from './metrics.controller';
import { METRICS_REGISTRY, processRegistry } from './registry';

export interface MetricsModuleOptions {
  /** The service name in `bowline_build_info`. */
  service: string;
  /** The version in `bowline_build_info`; Bowline's package.json version by default. */
  version?: string;
}

/**
 * `GET /metrics` (role `viewer`) on the admin HTTP port, the process registry under
 * `METRICS_REGISTRY` for features to declare their metrics on, `bowline_build_info`, and the
 * admin HTTP request histogram.
 */
@Module({})
export class MetricsModule implements NestModule {
  static forRoot(options: MetricsModuleOptions): DynamicModule {
    return {
      module: MetricsModule,
      controllers: [MetricsController],
      providers: [
        {
          provide: METRICS_REGISTRY,
          useFactory: (): Registry => {
            const registry = processRegistry();
            recordBuildInfo(registry, options.service, options.version);
            return registry;
          },
        },
      ],
      exports: [METRICS_REGISTRY],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes('{*path}');
  }
}
