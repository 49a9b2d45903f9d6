import { Body, Controller, Get, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { BowlineError, Kinds } from '#libs/errors';
import { DecisionLogsService } from './decision-logs.service';
import { MAX_BATCH } from './decision-log-request';

/** The part of an authenticated admin request this controller reads (set by the admin guard). */
interface PrincipalRequest {
  principal?: { name: string };
}

/** Decision logs: proxies post batches; operators and viewers query them. */
@ApiTags('decision-logs')
@ApiBearerAuth()
@Controller('v1/decision-logs')
export class DecisionLogsController {
  constructor(@Inject(DecisionLogsService) private readonly logs: DecisionLogsService) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({
    summary: `Store a batch of up to ${MAX_BATCH} decisions (OPA decision log entries plus Bowline fields), masked first`,
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['decisions'],
      properties: {
        decisions: {
          type: 'array',
          maxItems: MAX_BATCH,
          items: {
            type: 'object',
            required: ['decision_id', 'timestamp', 'input'],
            properties: {
              decision_id: { type: 'string' },
              timestamp: { type: 'string', format: 'date-time' },
              path: { type: 'string', description: 'The decision path, e.g. envoy/authz/allow' },
              input: { type: 'object' },
              result: { description: "The decision path's value (undefined: denied)" },
              requested_by: { type: 'string' },
              metrics: { type: 'object', additionalProperties: { type: 'number' } },
              labels: { type: 'object', description: 'OPA labels; `id` is the default reporter' },
              bundles: { type: 'object', description: 'OPA bundles; one bundle names policy and revision' },
              allowed: { type: 'boolean', description: 'The enforced outcome (default: from result)' },
              http_status: { type: 'integer' },
              policy: { type: 'string' },
              revision: { type: 'integer' },
              reason: { type: 'string' },
              reporter: { type: 'string', description: 'Proxy id (default: labels.id, else the token name)' },
            },
          },
        },
      },
    },
  })
  @ApiResponse({ status: 201, description: '`received` and `stored` (a repeated decision_id is stored once)' })
  @ApiResponse({ status: 400, description: 'An invalid entry refuses the batch; `errors[].path` names it' })
  async ingest(@Body() body: unknown, @Req() request: PrincipalRequest) {
    return this.logs.ingest(body, request.principal?.name ? `token:${request.principal.name}` : 'unknown');
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary:
      'Decisions newest first, filtered by from, to, principal, destination, path (trailing * for a prefix), decision (allow|deny), policy, revision, requestId; limit and cursor page',
  })
  async list(@Query() query: Record<string, unknown>) {
    return this.logs.find(query);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'One decision' })
  async get(@Param('id') id: string) {
    if (!/^[1-9]\d{0,18}$/.test(id)) throw new BowlineError(Kinds.NOT_FOUND, `no decision log ${id}`);
    return this.logs.get(id);
  }
}
