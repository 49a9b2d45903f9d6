import 'reflect-metadata';
import { runService } from '#libs/host';
import { ENVOY_EXT_AUTHZ_PACKAGE } from '#libs/proto';
import { ENTITIES, MIGRATIONS } from '../../../migrations';
import { loadPolicyConfig } from './config';
import { PolicyModule } from './policy.module';

void runService({
  name: 'policy',
  description: 'Rego policies compiled to WebAssembly, ext_authz Check, decision logs.',
  loadConfig: loadPolicyConfig,
  module: PolicyModule,
  grpcPackages: [ENVOY_EXT_AUTHZ_PACKAGE],
  entities: ENTITIES,
  migrations: MIGRATIONS,
});
