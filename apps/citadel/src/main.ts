import 'reflect-metadata';
import { configFromEnv, schemas } from '#libs/config';
import { runService } from '#libs/host';
import { ENTITIES, MIGRATIONS } from '../../../migrations';
import { CitadelModule } from './citadel.module';

void runService({
  name: 'citadel',
  description: 'Mesh CA: SPIFFE workload certificates, join tokens, rotation, revocation, trust bundles.',
  loadConfig: () => configFromEnv(schemas.citadel),
  module: CitadelModule,
  grpcPackages: [],
  entities: ENTITIES,
  migrations: MIGRATIONS,
});
