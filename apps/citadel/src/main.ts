import 'reflect-metadata';
import { experimental } from '@grpc/grpc-js';
import { runService } from '#libs/host';
import { CITADEL_EVENTS_PACKAGE, ISTIO_CA_PACKAGE } from '#libs/proto';
import { ENTITIES, MIGRATIONS } from '../../../migrations';
import { CitadelModule } from './citadel.module';
import { loadCitadelConfig } from './config';
import { ServingIdentity } from './signing/serving-identity';

void runService({
  name: 'citadel',
  description: 'Mesh CA: SPIFFE workload certificates, join tokens, rotation, revocation, trust bundles.',
  loadConfig: loadCitadelConfig,
  module: CitadelModule,
  grpcPackages: [ISTIO_CA_PACKAGE, CITADEL_EVENTS_PACKAGE],
  // TLS with an optional client certificate: a join token or the current certificate authenticates.
  grpcCredentials: async (app) => {
    const identity = app.get(ServingIdentity);
    await identity.start();
    return experimental.createCertificateProviderServerCredentials(identity.provider, identity.provider, false);
  },
  entities: ENTITIES,
  migrations: MIGRATIONS,
});
