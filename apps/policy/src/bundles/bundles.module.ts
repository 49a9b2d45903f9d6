import { Module } from '@nestjs/common';
import { BundlesController } from './bundles.controller';
import { BundlesService } from './bundles.service';

/**
 * Bundles for in-proxy enforcement: `GET /v1/bundles/authz` serves the Istio AuthorizationPolicy
 * module generated and compiled for the namespace's policies, and optionally a Rego policy's
 * active revision, for proxies to evaluate with libs/policy-runtime (see bundle-format.ts).
 */
@Module({
  controllers: [BundlesController],
  providers: [BundlesService],
})
export class BundlesModule {}
