import { Module } from '@nestjs/common';
import { OpaCliCompiler } from '../compiler/opa-cli.compiler';
import { POLICY_COMPILER } from '../compiler/policy-compiler';
import { AuthorizationEngine } from './authorization-engine';
import { AuthorizationController } from './authorization.controller';
import { AuthorizationMetrics } from './authorization.metrics';
import { GalleyAuthorizationWatcher } from './galley-watcher';
import { IstioAuthzCompiler } from './istio-authz.compiler';
import { AuthorizationPolicySet } from './policy-set';

/**
 * Istio AuthorizationPolicy on the policy engine: the set watched from Galley, generated into a
 * Rego module per version and compiled with the same compiler (OPA CLI, same capabilities) as
 * user policies. BundlesService shares the set and the compiled modules.
 */
@Module({
  controllers: [AuthorizationController],
  providers: [
    AuthorizationPolicySet,
    AuthorizationMetrics,
    GalleyAuthorizationWatcher,
    AuthorizationEngine,
    IstioAuthzCompiler,
    { provide: POLICY_COMPILER, useClass: OpaCliCompiler },
  ],
})
export class AuthorizationModule {}
