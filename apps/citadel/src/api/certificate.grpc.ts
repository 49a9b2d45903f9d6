import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { Metadata, ServerUnaryCall } from '@grpc/grpc-js';
import type { IstioCertificateRequest, IstioCertificateResponse } from '#libs/proto';
import { CitadelError } from '../errors';
import { CitadelMetrics } from '../metrics/citadel-metrics';
import { SigningService } from '../signing/signing.service';
import { CallerAuthentication } from './caller-authentication';

/** `istio.v1.auth.IstioCertificateService`: the gRPC facade over authentication and signing. */
@Controller()
export class IstioCertificateGrpc {
  constructor(
    @Inject(CallerAuthentication) private readonly authentication: CallerAuthentication,
    @Inject(SigningService) private readonly signing: SigningService,
    @Inject(CitadelMetrics) private readonly metrics: CitadelMetrics,
  ) {}

  @GrpcMethod('IstioCertificateService', 'CreateCertificate')
  async createCertificate(
    request: IstioCertificateRequest,
    metadata: Metadata,
    call: ServerUnaryCall<unknown, unknown>,
  ): Promise<IstioCertificateResponse> {
    return this.metrics.observeRequest(async () => {
      const caller = await this.authentication.authenticate(metadata, call.getAuthContext().sslPeerCertificate);
      if (!request.csr) {
        throw new CitadelError('CSR_INVALID', 'csr is empty: send a PEM-encoded PKCS#10 certificate signing request');
      }
      const chain = await this.signing.sign({
        csrPem: request.csr,
        caller,
        validitySeconds: Number(request.validity_duration ?? 0),
      });
      return { cert_chain: chain };
    });
  }
}
