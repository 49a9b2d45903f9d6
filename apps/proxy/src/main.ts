import 'reflect-metadata';
import { configFromEnv, schemas } from '#libs/config';
import { runService } from '#libs/host';
import { ENTITIES, MIGRATIONS } from '../../../migrations';
import { ProxyModule } from './proxy.module';

void runService({
  name: 'proxy',
  description: 'Sidecar / ingress / egress data plane: mTLS and authorization on every hop.',
  loadConfig: () => configFromEnv(schemas.proxy),
  module: ProxyModule,
  grpcPackages: [],
  entities: ENTITIES,
  migrations: MIGRATIONS,
});
