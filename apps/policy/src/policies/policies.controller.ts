import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { BowlineError, Kinds } from '#libs/errors';
import { PoliciesService } from './policies.service';
import { parseCreatePolicy, parseRevision, parseRevisionNumber, policyNameProblem } from './policy-request';

/** The part of an authenticated admin request this controller reads (set by the admin guard). */
interface PrincipalRequest {
  principal?: { tokenId: string };
}

const SOURCES = { type: 'object', additionalProperties: { type: 'string' } };
const REVISION_PROPERTIES = {
  entrypoint: { type: 'string', default: 'envoy/authz/allow', description: 'The decision path' },
  entrypoints: { type: 'array', items: { type: 'string' }, description: 'Decision paths; the first is the decision' },
  modules: { ...SOURCES, description: 'Rego modules by file name (`authz.rego`)' },
  tests: { ...SOURCES, description: 'Rego tests by file name (`authz_test.rego`), run by `:test`' },
  data: { type: 'object', description: 'The base data document' },
  activate: { type: 'boolean', default: false, description: 'Activate the new revision at once' },
};

/** Rego policies as immutable revisions: create, revise, activate (and roll back), test. */
@ApiTags('policies')
@ApiBearerAuth()
@Controller('v1/policies')
export class PoliciesController {
  constructor(@Inject(PoliciesService) private readonly policies: PoliciesService) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({ summary: 'Create a policy from Rego modules; it compiles to revision 1 (or is refused)' })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['name', 'modules'],
      properties: { name: { type: 'string' }, description: { type: 'string' }, ...REVISION_PROPERTIES },
    },
  })
  @ApiResponse({ status: 201, description: 'Created: the policy and its revision 1' })
  @ApiResponse({ status: 400, description: 'Invalid, or does not compile: `errors` carry OPA code, file, row, col' })
  @ApiResponse({ status: 409, description: 'A policy with this name exists' })
  async create(@Body() body: unknown, @Req() request: PrincipalRequest) {
    return this.policies.create(parseCreatePolicy(body), request.principal?.tokenId ?? null);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List policies with their active and latest revision numbers' })
  async list() {
    return { items: await this.policies.list() };
  }

  @Get(':name')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'One policy and the summary of each revision, newest first' })
  async get(@Param('name') name: string) {
    return this.policies.get(checkName(name));
  }

  @Post(':name/revisions')
  @RequireRole('operator')
  @ApiOperation({ summary: 'Add a revision (new sources, tests or data); it is a draft unless `activate` is true' })
  @ApiBody({ schema: { type: 'object', required: ['modules'], properties: REVISION_PROPERTIES } })
  @ApiResponse({ status: 201, description: 'The new revision' })
  @ApiResponse({ status: 400, description: 'Invalid, or does not compile: `errors` carry OPA code, file, row, col' })
  async addRevision(@Param('name') name: string, @Body() body: unknown, @Req() request: PrincipalRequest) {
    return this.policies.addRevision(checkName(name), parseRevision(body), request.principal?.tokenId ?? null);
  }

  @Get(':name/revisions/:revision')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'One revision with its sources, tests and data' })
  async getRevision(@Param('name') name: string, @Param('revision') revision: string) {
    return this.policies.getRevision(checkName(name), parseRevisionNumber(revision));
  }

  @Post(':name/revisions/:action')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary:
      '`{n}:activate` makes revision n the one evaluated (activating an older one is the rollback); `{n}:test` runs its Rego tests',
  })
  async act(@Param('name') name: string, @Param('action') action: string) {
    const match = /^([^:]+):(activate|test)$/.exec(action);
    if (!match) throw new BowlineError(Kinds.NOT_FOUND, `no such action: ${action} (use {n}:activate or {n}:test)`);
    const revision = parseRevisionNumber(match[1]);
    if (match[2] === 'activate') return this.policies.activate(checkName(name), revision);
    return this.policies.test(checkName(name), revision);
  }
}

function checkName(name: string): string {
  const problem = policyNameProblem(name);
  if (problem) throw new BowlineError(Kinds.NOT_FOUND, `no policy named ${name}`);
  return name;
}
