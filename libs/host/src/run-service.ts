import { type DynamicModule, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ConfigError } from '#libs/config';
import { grpcServerOptions, serviceNames } from '#libs/grpc';
import { EXIT_CONFIG, stopOnSignals } from '#libs/lifecycle';
import { createLogger, type Logger, PinoNestLogger } from '#libs/logging';
import { ErrorMappingFilter } from './error-mapping.filter';
import { OpenApiDocument } from './openapi.controller';
import type { ServiceConfig, ServiceDefinition } from './service-definition';
import { ServiceModule } from './service.module';

/** Largest JSON request body the admin APIs accept. */
const JSON_BODY_LIMIT = '5mb';

export type ServiceSpec<C extends ServiceConfig> = Omit<ServiceDefinition, 'config' | 'grpcServices'> & {
  /** Loads and validates the app's configuration; throws ConfigError. */
  loadConfig: () => C;
};

/**
 * Starts one Bowline service: validated config, JSON logs, gRPC (health + reflection + the
 * app's packages), the HTTP admin server with OpenAPI, and a graceful shutdown on
 * SIGTERM/SIGINT (stop accepting, drain, close the database; forced after the grace period).
 */
export async function runService<C extends ServiceConfig>(spec: ServiceSpec<C>): Promise<INestApplication | undefined> {
  let config: C;
  try {
    config = spec.loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const logger = createLogger(spec.name, 'info');
    logger.fatal({ problems: error.problems }, error.message);
    process.stderr.write(`${error.message}\n`);
    process.exitCode = EXIT_CONFIG;
    return undefined;
  }
  const logger = createLogger(spec.name, config.logLevel);
  try {
    return await start({ ...spec, config, grpcServices: serviceNames(spec.grpcPackages) }, logger);
  } catch (error) {
    logger.fatal(
      { err: error },
      `${spec.name} failed to start: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exit(1);
  }
}

async function start(definition: ServiceDefinition, logger: Logger): Promise<INestApplication> {
  const { config } = definition;
  @Module({ imports: [ServiceModule.forRoot(definition), definition.module] })
  class RootModule {}
  Object.defineProperty(RootModule, 'name', { value: `${definition.name}Root` });

  const app = await NestFactory.create<NestExpressApplication>(RootModule as unknown as DynamicModule['module'], {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });
  // Batches (decision logs, config applies, Rego sources) outgrow body-parser's 100 kB default.
  app.useBodyParser('json', { limit: JSON_BODY_LIMIT });
  app.getHttpAdapter().getInstance().disable('x-powered-by');
  const credentials = await definition.grpcCredentials?.(app);
  // One filter for both transports; the gRPC server inherits it (and nothing is registered twice).
  app.useGlobalFilters(new ErrorMappingFilter());
  app.connectMicroservice(
    grpcServerOptions({
      bindAddress: config.bindAddress,
      port: config.grpcPort,
      packages: definition.grpcPackages,
      credentials,
    }),
    { inheritAppConfig: true },
  );

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(`Bowline ${definition.name}`)
      .setDescription(definition.description)
      .setVersion(process.env.npm_package_version ?? '0.1.0')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'Admin API token (see README: "Admin tokens")' })
      .build(),
  );
  app.get(OpenApiDocument).document = document;

  await app.startAllMicroservices();
  await app.listen(config.adminPort, config.bindAddress);
  logger.info(
    { grpcPort: config.grpcPort, adminPort: config.adminPort, bindAddress: config.bindAddress },
    `${definition.name} is serving`,
  );
  handleShutdown(app, logger, config.shutdownGrace);
  return app;
}

function handleShutdown(app: INestApplication, logger: Logger, graceMs: number): void {
  stopOnSignals(logger, graceMs, 'no new connections, draining in-flight work', () => app.close());
}
