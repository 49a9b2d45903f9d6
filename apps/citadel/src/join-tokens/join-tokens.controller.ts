import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { BowlineError, type FieldProblem, Kinds } from '#libs/errors';
import {
  DEFAULT_MAX_USES,
  DEFAULT_TTL_SECONDS,
  MAX_MAX_USES,
  MAX_TTL_SECONDS,
  MIN_TTL_SECONDS,
  mintProblems,
  namespaceProblem,
  serviceAccountProblem,
} from './join-token-rules';
import { type JoinTokenFilter, JoinTokensService, type MintJoinTokenParams } from './join-tokens.service';

/** The part of an authenticated admin request this controller reads (set by the admin guard). */
interface PrincipalRequest {
  principal?: { tokenId: string };
}

export type MintJoinTokenRequest = Omit<MintJoinTokenParams, 'createdBy'>;

const MINT_FIELDS = ['namespace', 'serviceAccount', 'ttlSeconds', 'maxUses'];
const FILTER_FIELDS = ['namespace', 'serviceAccount'];

/** Join tokens: mint (the secret is returned once), list, revoke. Workloads redeem them over gRPC. */
@ApiTags('join-tokens')
@ApiBearerAuth()
@Controller('v1/join-tokens')
export class JoinTokensController {
  constructor(@Inject(JoinTokensService) private readonly joinTokens: JoinTokensService) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Mint a join token for one namespace and service account; the response carries the secret, shown once',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['namespace', 'serviceAccount'],
      properties: {
        namespace: { type: 'string', maxLength: 63, description: 'Kubernetes namespace (DNS-1123 label)' },
        serviceAccount: {
          type: 'string',
          maxLength: 253,
          description: 'Kubernetes service account (DNS-1123 subdomain)',
        },
        ttlSeconds: {
          type: 'integer',
          minimum: MIN_TTL_SECONDS,
          maximum: MAX_TTL_SECONDS,
          default: DEFAULT_TTL_SECONDS,
        },
        maxUses: { type: 'integer', minimum: 1, maximum: MAX_MAX_USES, default: DEFAULT_MAX_USES },
      },
      additionalProperties: false,
    },
  })
  @ApiResponse({ status: 201, description: 'Minted; `token` is the secret' })
  @ApiResponse({ status: 400, description: 'Invalid request; `errors` names each bad field' })
  async mint(@Body() body: unknown, @Req() request: PrincipalRequest) {
    const params = parseMintJoinToken(body);
    const { token, view } = await this.joinTokens.mint({ ...params, createdBy: request.principal?.tokenId });
    return { ...view, token };
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List join tokens, newest first (never their secrets)' })
  @ApiQuery({ name: 'namespace', required: false, type: String })
  @ApiQuery({ name: 'serviceAccount', required: false, type: String })
  async list(@Query() query: unknown) {
    return { items: await this.joinTokens.list(parseJoinTokenFilter(query)) };
  }

  @Delete(':id')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Revoke a join token (revoking it again changes nothing)' })
  @ApiResponse({ status: 200, description: 'The revoked token' })
  @ApiResponse({ status: 404, description: 'No join token has this id' })
  async revoke(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.joinTokens.revoke(id);
  }
}

/** Validates the mint body and applies the defaults; every problem is reported with its field path. */
export function parseMintJoinToken(body: unknown): MintJoinTokenRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BowlineError(Kinds.INVALID_ARGUMENT, 'the body must be a JSON object');
  }
  const input = body as Record<string, unknown>;
  const params = {
    namespace: input.namespace,
    serviceAccount: input.serviceAccount,
    ttlSeconds: input.ttlSeconds === undefined ? DEFAULT_TTL_SECONDS : input.ttlSeconds,
    maxUses: input.maxUses === undefined ? DEFAULT_MAX_USES : input.maxUses,
  };
  const problems = [...unknownFields(input, MINT_FIELDS, 'unknown field'), ...mintProblems(params)];
  if (problems.length > 0) throw invalid('invalid join token request', problems);
  return params as MintJoinTokenRequest;
}

/** Validates the list query; an empty parameter means no filter. */
export function parseJoinTokenFilter(query: unknown): JoinTokenFilter {
  const input = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
  const problems = unknownFields(input, FILTER_FIELDS, 'unknown query parameter');
  const filter: JoinTokenFilter = {};
  const namespace = input.namespace;
  if (namespace !== undefined && namespace !== '') {
    const problem = namespaceProblem(namespace);
    if (problem) problems.push({ path: 'namespace', message: problem });
    else filter.namespace = namespace as string;
  }
  const serviceAccount = input.serviceAccount;
  if (serviceAccount !== undefined && serviceAccount !== '') {
    const problem = serviceAccountProblem(serviceAccount);
    if (problem) problems.push({ path: 'serviceAccount', message: problem });
    else filter.serviceAccount = serviceAccount as string;
  }
  if (problems.length > 0) throw invalid('invalid join token query', problems);
  return filter;
}

function unknownFields(input: Record<string, unknown>, known: readonly string[], message: string): FieldProblem[] {
  return Object.keys(input)
    .filter((key) => !known.includes(key))
    .map((path) => ({ path, message }));
}

function invalid(what: string, problems: FieldProblem[]): BowlineError {
  const summary = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  return new BowlineError(Kinds.INVALID_ARGUMENT, `${what}: ${summary}`, problems);
}
