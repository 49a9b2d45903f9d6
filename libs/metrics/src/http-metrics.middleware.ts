import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { Histogram, Registry } from 'prom-client';
import { histogram } from './declare';
import { METRICS_REGISTRY } from './registry';

/** The `route` label of requests no route matched (scanners must not create series). */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Times every admin HTTP request, including those the auth guard refuses, as
 * `bowline_http_request_duration_seconds{method, route, code}`. `route` is the route template
 * (`/v1/certificates/:serial`), never the raw path, so the number of series stays bounded.
 */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  private readonly duration: Histogram<'method' | 'route' | 'code'>;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.duration = histogram(registry, {
      name: 'bowline_http_request_duration_seconds',
      help: 'Time to answer an admin HTTP request, by method, route template and status code.',
      labelNames: ['method', 'route', 'code'],
    });
  }

  use(request: Request, response: Response, next: NextFunction): void {
    const end = this.duration.startTimer();
    response.once('finish', () => {
      const route = (request.route as { path?: unknown } | undefined)?.path;
      end({
        method: request.method,
        route: typeof route === 'string' ? `${request.baseUrl}${route}` : UNMATCHED_ROUTE,
        code: String(response.statusCode),
      });
    });
    next();
  }
}
