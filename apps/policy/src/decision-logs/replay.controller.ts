import { Body, Controller, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { BowlineError, Kinds } from '#libs/errors';
import { parseRevisionNumber, policyNameProblem } from '../policies/policy-request';
import { parseReplay } from './replay-request';
import { ReplayService } from './replay.service';

/**
 * `POST /v1/policies/{name}/revisions/{n}:replay`. Registered before PoliciesController, whose
 * `{n}:{action}` route would otherwise answer it; this path matches `:replay` only.
 */
@ApiTags('policies')
@ApiBearerAuth()
@Controller('v1/policies')
export class ReplayController {
  constructor(@Inject(ReplayService) private readonly replays: ReplayService) {}

  @Post(':name/revisions/:revision\\:replay')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary:
      'What-if over history: evaluate revision n against the recorded (masked) inputs of [from, to) and report the decisions it would change',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['from', 'to'],
      properties: {
        from: { type: 'string', format: 'date-time' },
        to: { type: 'string', format: 'date-time' },
        limit: { type: 'integer', default: 1000, maximum: 10000 },
        allPolicies: { type: 'boolean', default: false, description: 'Replay decisions of every policy' },
      },
    },
  })
  @ApiResponse({ status: 200, description: '`evaluated`, `unchanged`, `newlyDenied`, `newlyAllowed`, `errors`' })
  async replay(@Param('name') name: string, @Param('revision') revision: string, @Body() body: unknown) {
    if (policyNameProblem(name)) throw new BowlineError(Kinds.NOT_FOUND, `no policy named ${name}`);
    return this.replays.replay(name, parseRevisionNumber(revision), parseReplay(body));
  }
}
