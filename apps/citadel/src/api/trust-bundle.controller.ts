import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { CertificateAuthority } from '../keys/certificate-authority';

/** The trust bundle: every root a valid workload certificate chains to. Never a key. */
@ApiTags('trust bundle')
@ApiBearerAuth()
@Controller('v1/trust-bundle')
@RequireRole('viewer')
export class TrustBundleController {
  constructor(@Inject(CertificateAuthority) private readonly ca: CertificateAuthority) {}

  @Get()
  @Header('content-type', 'application/x-pem-file')
  @ApiProduces('application/x-pem-file')
  @ApiOperation({ summary: 'The trust bundle as concatenated PEM root certificates' })
  pem(): string {
    return this.ca.trustBundlePem();
  }
}
