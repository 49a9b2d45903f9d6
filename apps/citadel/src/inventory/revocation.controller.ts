import { Body, Controller, Get, Header, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RequireRole } from '#libs/auth';
import { BowlineError, Kinds } from '#libs/errors';
import type { CrlReason } from '#libs/pki';
import { REVOCATION_REASONS, RevocationService } from './revocation.service';

/** Revoke a certificate (pushed to proxies at once) and the signed CRL for tools. */
@ApiTags('certificates')
@ApiBearerAuth()
@Controller('v1')
export class RevocationController {
  constructor(@Inject(RevocationService) private readonly revocation: RevocationService) {}

  @Post('certificates/:serial/revoke')
  @RequireRole('operator')
  @ApiOperation({ summary: 'Revoke a certificate by serial; proxies refuse it within a second' })
  @ApiBody({ schema: { type: 'object', properties: { reason: { type: 'string', enum: REVOCATION_REASONS } } } })
  revoke(@Param('serial') serial: string, @Body() body: unknown) {
    if (!/^[0-9A-Fa-f]{1,64}$/.test(serial)) {
      throw new BowlineError(Kinds.INVALID_ARGUMENT, 'serial must be hexadecimal', [
        { path: 'serial', message: 'must be hexadecimal' },
      ]);
    }
    const input = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const reason = input.reason ?? 'unspecified';
    const unknown = Object.keys(input).filter((key) => key !== 'reason');
    if (!REVOCATION_REASONS.includes(reason as CrlReason) || unknown.length > 0) {
      const problems = [
        ...unknown.map((key) => ({ path: key, message: 'unknown field' })),
        ...(REVOCATION_REASONS.includes(reason as CrlReason)
          ? []
          : [{ path: 'reason', message: `must be one of ${REVOCATION_REASONS.join(', ')}` }]),
      ];
      throw new BowlineError(
        Kinds.INVALID_ARGUMENT,
        problems.map((p) => `${p.path}: ${p.message}`).join('; '),
        problems,
      );
    }
    return this.revocation.revoke(serial, reason as CrlReason);
  }

  @Get('crl')
  @RequireRole('viewer')
  @Header('cache-control', 'no-store')
  @ApiProduces('application/pkix-crl', 'application/x-pem-file')
  @ApiOperation({ summary: 'The signed CRL of the current signing CA (DER; ?format=pem for PEM)' })
  async crl(@Query('format') format: string | undefined, @Res() response: Response): Promise<void> {
    const { der, pem } = await this.revocation.crl();
    if (format === 'pem') response.type('application/x-pem-file').send(pem);
    else response.type('application/pkix-crl').send(der);
  }
}
