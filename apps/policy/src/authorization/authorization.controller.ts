import { Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { SERVICE_CONFIG } from '#libs/host';
import type { PolicyConfig } from '../config';
import { AuthorizationEngine } from './authorization-engine';
import { authorizationInput, parseAuthorizationCheck } from './check-input';
import { GalleyAuthorizationWatcher } from './galley-watcher';
import { AuthorizationPolicySet } from './policy-set';

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };

/** Istio AuthorizationPolicies from Galley: what-if decisions (which policy and rule decided) and status. */
@ApiTags('authorization')
@ApiBearerAuth()
@Controller('v1/authorization')
export class AuthorizationController {
  constructor(
    @Inject(AuthorizationEngine) private readonly engine: AuthorizationEngine,
    @Inject(AuthorizationPolicySet) private readonly set: AuthorizationPolicySet,
    @Inject(GalleyAuthorizationWatcher) private readonly watcher: GalleyAuthorizationWatcher,
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
  ) {}

  @Post('check')
  @HttpCode(200)
  @RequireRole('viewer')
  @ApiOperation({
    summary:
      'Decide a request with the AuthorizationPolicies in use (CUSTOM reported, DENY, then ALLOW); names the deciding policy and rule',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['destination', 'request'],
      properties: {
        source: {
          type: 'object',
          properties: {
            principal: { type: 'string', description: 'SPIFFE ID of the caller (mTLS peer)' },
            namespace: { type: 'string', description: 'Defaults to the namespace in the principal' },
            ip: { type: 'string' },
            remoteIp: { type: 'string', description: 'Original client IP (X-Forwarded-For); defaults to ip' },
          },
        },
        destination: {
          type: 'object',
          required: ['namespace'],
          properties: {
            namespace: { type: 'string' },
            labels: stringMap,
            port: { type: 'integer' },
            ip: { type: 'string' },
            principal: { type: 'string' },
          },
        },
        request: {
          type: 'object',
          required: ['method', 'path'],
          properties: {
            method: { type: 'string' },
            path: { type: 'string' },
            host: { type: 'string' },
            headers: stringMap,
            auth: {
              type: 'object',
              description: 'What RequestAuthentication established from the JWT',
              properties: {
                principal: { type: 'string', description: '<iss>/<sub>' },
                audiences: { type: 'array', items: { type: 'string' } },
                presenter: { type: 'string' },
                claims: { type: 'object' },
              },
            },
          },
        },
        connection: { type: 'object', properties: { sni: { type: 'string' } } },
      },
    },
  })
  @ApiResponse({
    status: 200,
    description:
      '`{allowed, action, reason, policy, ruleIndex, audit, dryRun, custom, ...}`, the set version and the input built',
  })
  @ApiResponse({
    status: 503,
    description: 'No AuthorizationPolicy set from Galley yet, or the module did not compile',
  })
  check(@Body() body: unknown) {
    const input = authorizationInput(parseAuthorizationCheck(body));
    const { decision, durationMicros } = this.engine.decide(input);
    const deciding = decision.policy ? this.engine.findingsFor(decision.policy, decision.ruleIndex) : [];
    return {
      ...decision,
      ...(deciding.length > 0 ? { unsupported: deciding } : {}),
      version: this.engine.status.dataVersion,
      durationMicros,
      input,
    };
  }

  @Get('status')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'The AuthorizationPolicy set in use: Galley version, compile state, policies, unsupported findings',
  })
  status() {
    const set = this.set.state;
    return {
      rootNamespace: this.config.rootNamespace,
      galley: { ...this.watcher.status, synced: set.synced, version: set.version },
      ...this.engine.status,
    };
  }
}
