import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { SERVICE_CONFIG } from '#libs/host';
import { buildInput, InputError } from '#libs/policy-runtime';
import type { PolicyConfig } from '../config';
import { DecisionRecorder } from '../decision-logs/decision-recorder';
import { PolicyError } from '../errors';
import { requireObject } from '../policies/policy-request';
import { parseCheckRequest } from './check-request';
import { PolicyEngine } from './policy-engine';

/** What-if: the decision a policy revision makes for an input or an HTTP request description. */
@ApiTags('authz')
@ApiBearerAuth()
@Controller('v1/authz')
export class AuthzCheckController {
  constructor(
    @Inject(PolicyEngine) private readonly engine: PolicyEngine,
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
    @Inject(DecisionRecorder) private readonly recorder: DecisionRecorder,
  ) {}

  @Post('check')
  @HttpCode(200)
  @RequireRole('viewer')
  @ApiOperation({
    summary:
      'Evaluate a policy (default POLICY_EXTAUTHZ_POLICY; its active revision unless `revision`) for `input` or `request`',
  })
  @ApiBody({
    schema: {
      type: 'object',
      properties: {
        policy: { type: 'string' },
        revision: { type: 'integer' },
        input: { description: 'The input document, as opa-envoy-plugin builds it' },
        request: {
          type: 'object',
          description: 'An HTTP request to build the input from',
          properties: {
            source: { type: 'string', description: 'Caller principal (SPIFFE ID)' },
            destination: { type: 'string' },
            method: { type: 'string' },
            path: { type: 'string' },
            host: { type: 'string' },
            scheme: { type: 'string' },
            headers: { type: 'object', additionalProperties: { type: 'string' } },
            body: { type: 'string' },
          },
        },
      },
    },
  })
  @ApiResponse({ status: 200, description: '`allowed`, the decision, the raw result and the revision that decided' })
  async check(@Body() body: unknown) {
    const request = parseCheckRequest(requireObject(body));
    let input = request.input;
    if (request.request) {
      try {
        input = buildInput(request.request);
      } catch (error) {
        if (!(error instanceof InputError)) throw error;
        throw new PolicyError('INPUT_INVALID', error.message, {
          errors: [{ path: 'request', message: error.message }],
        });
      }
    }
    const policy = request.policy ?? this.config.extAuthzPolicy;
    const { revision, evaluation } = await this.engine.evaluate(policy, request.revision, input);
    this.recorder.record({ input, policy, revision, ...evaluation, requestedBy: 'authz-check' });
    return {
      policy,
      revision,
      entrypoint: evaluation.entrypoint,
      allowed: evaluation.decision.allowed,
      decision: evaluation.decision,
      result: evaluation.result ?? null,
      builtinErrors: evaluation.builtinErrors,
      durationMicros: evaluation.durationMicros,
      ...(request.request ? { input } : {}),
    };
  }
}
