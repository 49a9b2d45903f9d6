import 'reflect-metadata';
import { configFromEnv, schemas } from '#libs/config';
import { runService } from '#libs/host';
import { ENVOY_ADS_PACKAGE } from '#libs/proto';
import { ENTITIES, MIGRATIONS } from '../../../migrations';
import { PilotModule } from './pilot.module';

void runService({
  name: 'pilot',
  description: 'Service discovery and per-proxy configuration over xDS.',
  loadConfig: () => configFromEnv(schemas.pilot),
  module: PilotModule,
  grpcPackages: [ENVOY_ADS_PACKAGE],
  entities: ENTITIES,
  migrations: MIGRATIONS,
});
