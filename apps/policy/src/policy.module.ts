import { Module } from '@nestjs/common';
import { OpaCliCompiler } from './compiler/opa-cli.compiler';
import { POLICY_COMPILER } from './compiler/policy-compiler';
import { AuthzCheckController } from './evaluation/authz-check.controller';
import { PolicyEngine } from './evaluation/policy-engine';
import { ExtAuthzGrpc } from './ext-authz/ext-authz.grpc';
import { PoliciesController } from './policies/policies.controller';
import { ACTIVATION_LISTENER, PoliciesService } from './policies/policies.service';

/** Rego policies compiled to WebAssembly, the what-if API and ext_authz Check. */
@Module({
  controllers: [PoliciesController, AuthzCheckController, ExtAuthzGrpc],
  providers: [
    PoliciesService,
    PolicyEngine,
    { provide: ACTIVATION_LISTENER, useExisting: PolicyEngine },
    { provide: POLICY_COMPILER, useClass: OpaCliCompiler },
  ],
})
export class PolicyModule {}
