import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { X509Certificate } from 'node:crypto';
import { RequireRole } from '#libs/auth';
import { BowlineError, Kinds } from '#libs/errors';
import { CertificateAuthority } from '../keys/certificate-authority';

/** How often consumers of the SPIFFE bundle should refetch it, in seconds. */
const REFRESH_HINT_SECONDS = 300;

/** The trust bundle: every root a valid workload certificate chains to. Never a key. */
@ApiTags('trust bundle')
@ApiBearerAuth()
@Controller('v1/trust-bundle')
@RequireRole('viewer')
export class TrustBundleController {
  constructor(@Inject(CertificateAuthority) private readonly ca: CertificateAuthority) {}

  @Get()
  @ApiProduces('application/x-pem-file', 'application/json')
  @ApiQuery({ name: 'format', required: false, enum: ['pem', 'spiffe'] })
  @ApiOperation({ summary: 'The trust bundle: PEM roots (default) or a SPIFFE bundle (JWKS with x509-svid keys)' })
  bundle(@Query('format') format: string | undefined, @Res() response: Response): void {
    if (format === undefined || format === 'pem') {
      response.type('application/x-pem-file').send(this.ca.trustBundlePem());
      return;
    }
    if (format !== 'spiffe') {
      throw new BowlineError(Kinds.INVALID_ARGUMENT, 'format must be pem or spiffe', [
        { path: 'format', message: 'must be pem or spiffe' },
      ]);
    }
    response.type('application/json').send(JSON.stringify(this.spiffeBundle()));
  }

  /** SPIFFE Trust Domain and Bundle format: one JWK per root, `use: x509-svid`, `x5c` = the DER. */
  private spiffeBundle() {
    const keys = this.ca.rootPems().map((pem) => {
      const certificate = new X509Certificate(pem);
      const jwk = certificate.publicKey.export({ format: 'jwk' });
      return { use: 'x509-svid', ...jwk, x5c: [certificate.raw.toString('base64')] };
    });
    return { keys, spiffe_sequence: keys.length, spiffe_refresh_hint: REFRESH_HINT_SECONDS };
  }
}
