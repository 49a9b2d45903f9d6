import { Module } from '@nestjs/common';
import { AuthorizationModule } from './authorization/authorization.module';
import { BundlesModule } from './bundles/bundles.module';
import { OpaCliCompiler } from './compiler/opa-cli.compiler';
import { POLICY_COMPILER } from './compiler/policy-compiler';
import { DecisionLogsModule } from './decision-logs/decision-logs.module';
import { ReplayController } from './decision-logs/replay.controller';
import { AuthzCheckController } from './evaluation/authz-check.controller';
import { PolicyEngine } from './evaluation/policy-engine';
import { ExtAuthzGrpc } from './ext-authz/ext-authz.grpc';
import { PoliciesController } from './policies/policies.controller';
import { ACTIVATION_LISTENER, PoliciesService } from './policies/policies.service';

/** Rego policies compiled to WebAssembly, the what-if API and ext_authz Check. */
@Module({
  imports: [AuthorizationModule, DecisionLogsModule, BundlesModule],
  // ReplayController first: PoliciesController's `{n}:{action}` route would otherwise take `{n}:replay`.
  controllers: [ReplayController, PoliciesController, AuthzCheckController, ExtAuthzGrpc],
  providers: [
    PoliciesService,
    PolicyEngine,
    { provide: ACTIVATION_LISTENER, useExisting: PolicyEngine },
    { provide: POLICY_COMPILER, useClass: OpaCliCompiler },
  ],
})
export class PolicyModule {}
