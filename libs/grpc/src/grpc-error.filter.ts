import { type ArgumentsHost, Catch, Logger, type RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { type Observable, throwError } from 'rxjs';
import { BowlineError } from '#libs/errors';

/**
 * The gRPC error mapping: a BowlineError becomes its kind's status code with the caller-facing
 * message; anything unexpected is logged and answered INTERNAL without details.
 */
@Catch()
export class GrpcErrorFilter implements RpcExceptionFilter<unknown> {
  private readonly logger = new Logger('GrpcErrorFilter');

  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    if (exception instanceof BowlineError) {
      if (exception.kind.grpcStatus === GrpcStatus.INTERNAL) this.logger.error(exception.cause ?? exception);
      return throwError(() => ({ code: exception.kind.grpcStatus, message: exception.message }));
    }
    if (exception instanceof RpcException) {
      const error = exception.getError();
      if (typeof error === 'object' && error !== null && 'code' in error) return throwError(() => error);
    }
    this.logger.error(exception);
    return throwError(() => ({ code: GrpcStatus.INTERNAL, message: 'internal error; the cause is in the server log' }));
  }
}
