import { Body, Controller, Delete, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { BowlineError, type FieldProblem, Kinds } from '#libs/errors';
import type { AuthenticatedRequest } from './admin-auth.guard';
import { RequireRole } from './access.decorators';
import { isRole, ROLES } from './roles';
import { type CreateTokenParams, TokensService } from './tokens.service';

const MAX_TTL_SECONDS = 366 * 86_400;

/** Admin API tokens: create (the secret is returned once), list, revoke. Admin only. */
@ApiTags('tokens')
@ApiBearerAuth()
@Controller('v1/tokens')
@RequireRole('admin')
export class TokensController {
  constructor(@Inject(TokensService) private readonly tokens: TokensService) {}

  @Post()
  @ApiOperation({ summary: 'Create an API token; the response carries the secret, shown only this once' })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['name', 'role'],
      properties: {
        name: { type: 'string', maxLength: 128 },
        role: { type: 'string', enum: [...ROLES] },
        ttlSeconds: { type: 'integer', minimum: 60, maximum: MAX_TTL_SECONDS },
      },
      additionalProperties: false,
    },
  })
  @ApiResponse({ status: 201, description: 'Created; `token` is the secret' })
  async create(@Body() body: unknown, @Req() request: AuthenticatedRequest) {
    const params = parseCreateToken(body);
    const { token, view } = await this.tokens.create({ ...params, createdBy: request.principal?.tokenId });
    return { ...view, token };
  }

  @Get()
  @ApiOperation({ summary: 'List API tokens (never their secrets)' })
  async list() {
    return { items: await this.tokens.list() };
  }

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke an API token' })
  async revoke(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.tokens.revoke(id);
  }
}

/** Validates the create body; every problem is reported with its field path. */
export function parseCreateToken(body: unknown): CreateTokenParams {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BowlineError(Kinds.INVALID_ARGUMENT, 'the body must be a JSON object');
  }
  const input = body as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const key of Object.keys(input)) {
    if (!['name', 'role', 'ttlSeconds'].includes(key)) problems.push({ path: key, message: 'unknown field' });
  }
  if (typeof input.name !== 'string' || input.name.trim() === '' || input.name.length > 128) {
    problems.push({ path: 'name', message: 'must be a non-empty string of at most 128 characters' });
  }
  if (!isRole(input.role)) problems.push({ path: 'role', message: `must be one of ${ROLES.join(', ')}` });
  const ttl = input.ttlSeconds;
  if (ttl !== undefined && (!Number.isInteger(ttl) || (ttl as number) < 60 || (ttl as number) > MAX_TTL_SECONDS)) {
    problems.push({ path: 'ttlSeconds', message: `must be a whole number of seconds from 60 to ${MAX_TTL_SECONDS}` });
  }
  if (problems.length > 0) {
    const summary = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    throw new BowlineError(Kinds.INVALID_ARGUMENT, `invalid token request: ${summary}`, problems);
  }
  return {
    name: (input.name as string).trim(),
    role: input.role as CreateTokenParams['role'],
    ttlSeconds: ttl as number | undefined,
  };
}
