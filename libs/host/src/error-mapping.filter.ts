import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { ProblemFilter } from '#libs/errors';
import { GrpcErrorFilter } from '#libs/grpc';

/**
 * Routes an exception to its transport's single mapping: problem+json for HTTP, a status
 * code for gRPC. Registered once for the whole service.
 */
@Catch()
export class ErrorMappingFilter implements ExceptionFilter {
  private readonly http = new ProblemFilter();
  private readonly grpc = new GrpcErrorFilter();

  catch(exception: unknown, host: ArgumentsHost) {
    return host.getType() === 'rpc' ? this.grpc.catch(exception, host) : this.http.catch(exception, host);
  }
}
