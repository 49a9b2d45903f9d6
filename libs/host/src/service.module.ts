import { type DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuthModule } from '#libs/auth';
import { checkReadiness, DatabaseModule } from '#libs/db';
import { HealthController, HEALTH_SERVICE_NAMES, READINESS_PROBE, type ReadinessProbe } from '#libs/grpc';
import { MetricsModule } from '#libs/metrics';
import { OpenApiController, OpenApiDocument } from './openapi.controller';
import { ProbesController } from './probes.controller';
import type { ServiceDefinition } from './service-definition';
import { CLOCK, SERVICE_CONFIG, SYSTEM_CLOCK } from './tokens';

/**
 * What every Bowline service has: PostgreSQL, admin authentication and the token API,
 * /healthz, /readyz, /openapi.json, /metrics (apps inject `METRICS_REGISTRY`), and gRPC health.
 * Apps import it and add their features.
 */
@Module({})
export class ServiceModule {
  static forRoot(definition: ServiceDefinition): DynamicModule {
    const { config } = definition;
    return {
      module: ServiceModule,
      global: true,
      imports: [
        DatabaseModule.forRoot({
          url: config.databaseUrl,
          entities: definition.entities,
          migrations: definition.migrations,
          applicationName: `bowline-${definition.name}`,
        }),
        AuthModule.forRoot({ configuredToken: config.adminToken, outputPath: config.adminTokenOutput }),
        MetricsModule.forRoot({ service: definition.name }),
      ],
      controllers: [ProbesController, OpenApiController, HealthController],
      providers: [
        OpenApiDocument,
        {
          provide: READINESS_PROBE,
          inject: [DataSource],
          useFactory: (dataSource: DataSource): ReadinessProbe => ({
            isReady: async () => (await checkReadiness(dataSource)).ready,
          }),
        },
        { provide: HEALTH_SERVICE_NAMES, useValue: definition.grpcServices },
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: CLOCK, useValue: SYSTEM_CLOCK },
      ],
      exports: [OpenApiDocument, READINESS_PROBE, SERVICE_CONFIG, CLOCK, MetricsModule],
    };
  }
}
