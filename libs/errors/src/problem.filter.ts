import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { BowlineError } from './bowline-error';
import { Kinds } from './kinds';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/**
 * The HTTP error mapping (RFC 9457 problem details), the one place where an exception becomes
 * a response. Unexpected errors are logged with their cause and answered with a generic 500.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    const problem = this.toProblem(exception, request);
    if (response.headersSent) return;
    if (problem.status === 401) response.setHeader('WWW-Authenticate', 'Bearer realm="bowline"');
    response.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }

  private toProblem(exception: unknown, request: Request): Record<string, unknown> & { status: number } {
    const instance = request.originalUrl?.split('?')[0];
    if (exception instanceof BowlineError) {
      if (exception.kind.httpStatus >= 500) this.logger.error(exception.cause ?? exception);
      return {
        type: `urn:bowline:error:${exception.kind.code.toLowerCase()}`,
        title: exception.kind.title,
        status: exception.kind.httpStatus,
        detail: exception.message,
        instance,
        ...(exception.errors.length > 0 ? { errors: exception.errors } : {}),
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      return { type: 'about:blank', title: httpTitle(status), status, detail: httpDetail(exception), instance };
    }
    this.logger.error(exception);
    const kind = Kinds.INTERNAL;
    return {
      type: `urn:bowline:error:${kind.code.toLowerCase()}`,
      title: kind.title,
      status: kind.httpStatus,
      detail: 'The server failed to handle the request; the cause is in its log.',
      instance,
    };
  }
}

function httpDetail(exception: HttpException): string {
  const body = exception.getResponse();
  if (typeof body === 'string') return body;
  const message = (body as { message?: unknown }).message;
  return Array.isArray(message) ? message.join('; ') : String(message ?? exception.message);
}

function httpTitle(status: number): string {
  const titles: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    413: 'Content Too Large',
    415: 'Unsupported Media Type',
  };
  return titles[status] ?? (status >= 500 ? 'Internal Server Error' : 'Error');
}
