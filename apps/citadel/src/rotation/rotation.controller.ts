import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { BowlineError, type FieldProblem, Kinds } from '#libs/errors';
import { DataSource } from 'typeorm';
import { CaAuthority } from '../keys/ca-authority.entity';
import type { PluggedInCa } from '../keys/plug-in';
import { RotationService } from './rotation.service';

type WithPrincipal = { principal?: { tokenId: string } };
const MAX_SECONDS = 7 * 86_400;

/** Rotation endpoints and the CA status (phases of a root rotation are visible here). */
@ApiTags('rotation')
@ApiBearerAuth()
@Controller('v1')
export class RotationController {
  constructor(
    @Inject(RotationService) private readonly rotation: RotationService,
    @Inject(DataSource) private readonly dataSource: DataSource,
  ) {}

  @Post('identities/:namespace/:serviceAccount/rotate')
  @HttpCode(202)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Make every proxy holding this identity re-key now; revoke the superseded certificates after graceSeconds',
  })
  @ApiBody({
    schema: { type: 'object', properties: { graceSeconds: { type: 'integer', minimum: 0, maximum: MAX_SECONDS } } },
  })
  rotateIdentity(
    @Param('namespace') namespace: string,
    @Param('serviceAccount') serviceAccount: string,
    @Body() body: unknown,
    @Req() request: WithPrincipal,
  ) {
    const graceSeconds = seconds(body, 'graceSeconds', 60);
    return this.rotation.rotateIdentity({ namespace, serviceAccount }, graceSeconds, request.principal?.tokenId);
  }

  @Post('ca/intermediate/rotate')
  @RequireRole('admin')
  @ApiOperation({ summary: 'Create a new intermediate under the same root and sign with it (no trust change)' })
  rotateIntermediate(@Req() request: WithPrincipal) {
    return this.rotation.rotateIntermediate(request.principal?.tokenId);
  }

  @Post('ca/root/rotate')
  @HttpCode(202)
  @RequireRole('admin')
  @ApiOperation({
    summary: 'Start a root rotation: the new root joins the bundle now, signing switches after distributionSeconds',
  })
  @ApiBody({
    schema: {
      type: 'object',
      properties: { distributionSeconds: { type: 'integer', minimum: 0, maximum: MAX_SECONDS } },
    },
  })
  rotateRoot(@Body() body: unknown, @Req() request: WithPrincipal) {
    return this.rotation.rotateRoot(seconds(body, 'distributionSeconds', 30), request.principal?.tokenId);
  }

  @Put('ca/plugged-in')
  @RequireRole('admin')
  @ApiOperation({
    summary: "Install an operator's CA (Istio cacerts: ca-cert, ca-key, cert-chain, root-cert PEM) as the signer",
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['caCert', 'caKey', 'rootCert'],
      properties: {
        caCert: { type: 'string' },
        caKey: { type: 'string' },
        certChain: { type: 'string' },
        rootCert: { type: 'string' },
      },
    },
  })
  plugIn(@Body() body: unknown, @Req() request: WithPrincipal) {
    return this.rotation.plugIn(parsePlugIn(body), request.principal?.tokenId);
  }

  @Get('ca/status')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'CA certificates with their status and trust horizon, and recent rotations' })
  async status() {
    const authorities = await this.dataSource.getRepository(CaAuthority).find({ order: { createdAt: 'ASC' } });
    const rotations = await this.rotation.list();
    const pendingRoot = rotations.find((r) => r.kind === 'root' && r.state === 'pending');
    const retiredTrusted = authorities.some(
      (a) => a.role === 'root' && a.status === 'retired' && a.trustedUntil && a.trustedUntil > new Date(),
    );
    return {
      phase: pendingRoot
        ? 'distributing-new-root'
        : retiredTrusted
          ? 'old-root-trusted-until-its-leaves-expire'
          : 'stable',
      authorities: authorities.map((a) => ({
        id: a.id,
        role: a.role,
        status: a.status,
        origin: a.origin,
        serial: a.serialHex,
        parentId: a.parentId,
        notBefore: a.notBefore.toISOString(),
        notAfter: a.notAfter.toISOString(),
        trustedUntil: a.trustedUntil?.toISOString() ?? null,
      })),
      rotations,
    };
  }
}

function seconds(body: unknown, field: string, fallback: number): number {
  const input = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const problems: FieldProblem[] = Object.keys(input)
    .filter((key) => key !== field)
    .map((key) => ({ path: key, message: 'unknown field' }));
  const value = input[field] ?? fallback;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_SECONDS) {
    problems.push({ path: field, message: `must be a whole number of seconds from 0 to ${MAX_SECONDS}` });
  }
  if (problems.length > 0) {
    throw new BowlineError(Kinds.INVALID_ARGUMENT, problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);
  }
  return value as number;
}

function parsePlugIn(body: unknown): PluggedInCa {
  const input = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<
    string,
    unknown
  >;
  const problems: FieldProblem[] = Object.keys(input)
    .filter((key) => !['caCert', 'caKey', 'certChain', 'rootCert'].includes(key))
    .map((key) => ({ path: key, message: 'unknown field' }));
  for (const field of ['caCert', 'caKey', 'rootCert']) {
    if (typeof input[field] !== 'string' || !(input[field] as string).includes('-----BEGIN')) {
      problems.push({ path: field, message: 'must be a PEM string' });
    }
  }
  if (input.certChain !== undefined && typeof input.certChain !== 'string')
    problems.push({ path: 'certChain', message: 'must be a PEM string' });
  if (problems.length > 0) {
    throw new BowlineError(Kinds.INVALID_ARGUMENT, problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);
  }
  return input as unknown as PluggedInCa;
}
