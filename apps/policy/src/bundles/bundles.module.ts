import { Module } from '@nestjs/common';
import { OpaCliCompiler } from '../compiler/opa-cli.compiler';
import { POLICY_COMPILER } from '../compiler/policy-compiler';
import { BundlesController } from './bundles.controller';
import { BundlesService } from './bundles.service';

/**
 * Bundles for in-proxy enforcement: `GET /v1/bundles/authz` serves the compiled Istio
 * AuthorizationPolicy module with the namespace's policies, and optionally a Rego policy's
 * active revision, for proxies to evaluate with libs/policy-runtime (see bundle-format.ts).
 */
@Module({
  controllers: [BundlesController],
  providers: [BundlesService, { provide: POLICY_COMPILER, useClass: OpaCliCompiler }],
})
export class BundlesModule {}
