import { Module } from '@nestjs/common';
import { CallerAuthentication } from './api/caller-authentication';
import { IstioCertificateGrpc } from './api/certificate.grpc';
import { CitadelEventsGrpc } from './api/events.grpc';
import { TrustBundleController } from './api/trust-bundle.controller';
import { CaEventBus } from './events/event-bus';
import { InventoryController } from './inventory/inventory.controller';
import { InventoryService } from './inventory/inventory.service';
import { RevocationController } from './inventory/revocation.controller';
import { RevocationService } from './inventory/revocation.service';
import { JoinTokensModule } from './join-tokens/join-tokens.module';
import { KeysModule } from './keys/keys.module';
import { CitadelMetrics } from './metrics/citadel-metrics';
import { CaWatcher } from './rotation/ca-watcher';
import { RotationController } from './rotation/rotation.controller';
import { RotationService } from './rotation/rotation.service';
import { ServingIdentity } from './signing/serving-identity';
import { SigningPool } from './signing/signing-pool';
import { SigningService } from './signing/signing.service';

/** Mesh CA: SPIFFE workload certificates, join tokens, inventory, revocation, rotation, trust bundle. */
@Module({
  imports: [KeysModule, JoinTokensModule],
  controllers: [
    IstioCertificateGrpc,
    CitadelEventsGrpc,
    TrustBundleController,
    InventoryController,
    RevocationController,
    RotationController,
  ],
  providers: [
    CaEventBus,
    InventoryService,
    RevocationService,
    SigningService,
    SigningPool,
    ServingIdentity,
    CallerAuthentication,
    RotationService,
    CaWatcher,
    CitadelMetrics,
  ],
})
export class CitadelModule {}
