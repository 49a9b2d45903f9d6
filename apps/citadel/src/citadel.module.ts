import { Module } from '@nestjs/common';
import { CallerAuthentication } from './api/caller-authentication';
import { IstioCertificateGrpc } from './api/certificate.grpc';
import { TrustBundleController } from './api/trust-bundle.controller';
import { InventoryController } from './inventory/inventory.controller';
import { InventoryService } from './inventory/inventory.service';
import { JoinTokensModule } from './join-tokens/join-tokens.module';
import { KeysModule } from './keys/keys.module';
import { ServingIdentity } from './signing/serving-identity';
import { SigningService } from './signing/signing.service';

/** Mesh CA: SPIFFE workload certificates, join tokens, inventory, trust bundle. */
@Module({
  imports: [KeysModule, JoinTokensModule],
  controllers: [IstioCertificateGrpc, TrustBundleController, InventoryController],
  providers: [InventoryService, SigningService, ServingIdentity, CallerAuthentication],
})
export class CitadelModule {}
