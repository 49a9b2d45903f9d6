import 'reflect-metadata';
import { configFromEnv, schemas } from '#libs/config';
import { runService } from '#libs/host';
import { GALLEY_PACKAGE } from '#libs/proto';
import { ENTITIES, MIGRATIONS } from '../../../migrations';
import { GalleyModule } from './galley.module';

void runService({
  name: 'galley',
  description: 'Config ingestion: Istio-shaped resources, validated, versioned and streamed.',
  loadConfig: () => configFromEnv(schemas.galley),
  module: GalleyModule,
  grpcPackages: [GALLEY_PACKAGE],
  entities: ENTITIES,
  migrations: MIGRATIONS,
});
