import 'reflect-metadata';
import { accessSync, constants } from 'node:fs';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ConfigError, configFromEnv, schemas } from '#libs/config';
import { EXIT_CONFIG, stopOnSignals } from '#libs/lifecycle';
import { createLogger, type Logger, PinoNestLogger } from '#libs/logging';
import { ProxyAdminModule } from './admin';
import { parseLabels, proxyAdminToken, type ProxyConfig, Sidecar } from './sidecar';

/** What the catalogue cannot check on one variable alone. */
function checkConfig(config: ProxyConfig): void {
  const problems: string[] = [];
  try {
    parseLabels(config.labels);
  } catch (error) {
    problems.push((error as Error).message);
  }
  if (config.service && !config.servicePorts) problems.push('PROXY_SERVICE_PORTS: required when PROXY_SERVICE is set');
  if (config.servicePorts && !config.service) problems.push('PROXY_SERVICE: required when PROXY_SERVICE_PORTS is set');
  if (!config.pilotAddress && !config.bootstrapFile) {
    problems.push('PROXY_PILOT_ADDRESS: set it, PROXY_BOOTSTRAP_FILE, or both (the proxy needs a source of config)');
  }
  for (const [name, path] of [
    ['PROXY_CA_ROOTS_FILE', config.caRootsFile],
    ['PROXY_BOOTSTRAP_FILE', config.bootstrapFile],
  ] as const) {
    if (!path) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch {
      problems.push(`${name}: cannot read ${path}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

function loadConfig(): ProxyConfig {
  const config = configFromEnv(schemas.proxy);
  checkConfig(config);
  return config;
}

/**
 * The sidecar: the data plane (outbound :15001, inbound :15006) on Node's net/tls/http/http2,
 * and Nest for lifecycle and the admin API (:15000). No database.
 */
async function main(): Promise<void> {
  let config: ProxyConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createLogger('proxy', 'info').fatal({ problems: error.problems }, error.message);
    process.stderr.write(`${error.message}\n`);
    process.exitCode = EXIT_CONFIG;
    return;
  }
  const logger = createLogger('proxy', config.logLevel);
  try {
    await run(config, logger);
  } catch (error) {
    if (error instanceof ConfigError || (error as { name?: string }).name === 'MeshConfigError') {
      logger.fatal({ err: error }, (error as Error).message);
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(EXIT_CONFIG);
    }
    logger.fatal({ err: error }, `proxy failed to start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

async function run(config: ProxyConfig, logger: Logger): Promise<void> {
  const sidecar = new Sidecar(config, logger);
  const adminToken = await proxyAdminToken(config, logger);
  @Module({
    imports: [
      ProxyAdminModule.forRoot({
        identity: sidecar.identity,
        mesh: sidecar.mesh,
        metrics: sidecar.metrics,
        adminToken,
        rotate: () => sidecar.identity.rotateNow('requested through the proxy admin API'),
        extra: () => sidecar.describe(),
        pending: () => sidecar.pending(),
      }),
    ],
  })
  class ProxyRoot {}
  const app = await NestFactory.create<NestExpressApplication>(ProxyRoot, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });
  app.getHttpAdapter().getInstance().disable('x-powered-by');
  await sidecar.start();
  await app.listen(config.adminPort, config.bindAddress);
  logger.info(
    {
      adminPort: config.adminPort,
      outboundPort: config.outboundPort,
      inboundPort: config.inboundPort,
      pilot: config.pilotAddress ?? null,
      bootstrap: config.bootstrapFile ?? null,
    },
    'proxy is serving',
  );
  stopOnSignals(logger, config.shutdownGrace, 'closing listeners, draining in-flight requests', () =>
    Promise.all([sidecar.stop(), app.close()]),
  );
}

void main();
