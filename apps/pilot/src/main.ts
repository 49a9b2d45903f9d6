import 'reflect-metadata';
import { configFromEnv, schemas } from '#libs/config';
import { runService } from '#libs/host';
import { ENTITIES, MIGRATIONS } from '../../../migrations';
import { PilotModule } from './pilot.module';

void runService({
  name: 'pilot',
  description: 'Service discovery and per-proxy configuration over xDS.',
  loadConfig: () => configFromEnv(schemas.pilot),
  module: PilotModule,
  grpcPackages: [],
  entities: ENTITIES,
  migrations: MIGRATIONS,
});
