import { Controller, Inject, Logger } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { SERVICE_CONFIG } from '#libs/host';
import { checkRequestToInput, failedDecision, InputError } from '#libs/policy-runtime';
import type { PolicyConfig } from '../config';
import { DecisionRecorder } from '../decision-logs/decision-recorder';
import { PolicyError } from '../errors';
import { PolicyEngine } from '../evaluation/policy-engine';
import { type CheckResponse, toCheckResponse } from './check-response';

/**
 * Envoy's `envoy.service.auth.v3.Authorization/Check`, answered by the active revision of
 * POLICY_EXTAUTHZ_POLICY exactly as opa-envoy-plugin would. It never fails the RPC: a missing
 * policy, a malformed request or an evaluation error is a denial (fail closed).
 */
@Controller()
export class ExtAuthzGrpc {
  private readonly logger = new Logger('ExtAuthz');

  constructor(
    @Inject(PolicyEngine) private readonly engine: PolicyEngine,
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
    @Inject(DecisionRecorder) private readonly recorder: DecisionRecorder,
  ) {}

  @GrpcMethod('Authorization', 'Check')
  async check(request: unknown): Promise<CheckResponse> {
    const policy = this.config.extAuthzPolicy;
    let input: Record<string, unknown>;
    try {
      input = checkRequestToInput(request);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return toCheckResponse(failedDecision('EVALUATION_FAILED', `cannot build the policy input: ${error.message}`));
    }
    try {
      const { revision, evaluation } = await this.engine.evaluate(policy, undefined, input);
      const { decision } = evaluation;
      this.recorder.record({ input, policy, revision, ...evaluation, requestedBy: 'ext_authz' });
      if (decision.error) {
        this.logger.warn({ msg: 'denied: the policy did not decide', policy, revision, error: decision.error });
      }
      return toCheckResponse(decision);
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      this.logger.warn({ msg: 'denied: no policy to evaluate', policy, reason: error.message });
      const denied = failedDecision('DECISION_UNDEFINED', error.message);
      this.recorder.record({ input, policy, revision: null, decision: denied, requestedBy: 'ext_authz' });
      return toCheckResponse(denied);
    }
  }
}
