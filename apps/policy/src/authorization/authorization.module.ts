import { Module } from '@nestjs/common';
import { OpaCliCompiler } from '../compiler/opa-cli.compiler';
import { POLICY_COMPILER } from '../compiler/policy-compiler';
import { AuthorizationEngine } from './authorization-engine';
import { AuthorizationController } from './authorization.controller';
import { AuthorizationMetrics } from './authorization.metrics';
import { GalleyAuthorizationWatcher } from './galley-watcher';
import { AuthorizationPolicySet } from './policy-set';

/**
 * Istio AuthorizationPolicy on the policy engine: the set watched from Galley, evaluated by one
 * Rego module compiled with the same compiler (OPA CLI, same capabilities) as user policies.
 */
@Module({
  controllers: [AuthorizationController],
  providers: [
    AuthorizationPolicySet,
    AuthorizationMetrics,
    GalleyAuthorizationWatcher,
    AuthorizationEngine,
    { provide: POLICY_COMPILER, useClass: OpaCliCompiler },
  ],
})
export class AuthorizationModule {}
