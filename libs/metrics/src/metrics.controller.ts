import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Registry } from 'prom-client';
import { RequireRole } from '#libs/auth';
import { METRICS_REGISTRY } from './registry';

/** The Prometheus scrape endpoint; Prometheus sends `authorization: Bearer <viewer token>`. */
@ApiTags('meta')
@ApiBearerAuth()
@Controller()
export class MetricsController {
  constructor(@Inject(METRICS_REGISTRY) private readonly registry: Registry) {}

  @Get('metrics')
  @RequireRole('viewer')
  @ApiProduces('text/plain')
  @ApiOperation({ summary: 'Metrics in the Prometheus text exposition format' })
  async metrics(@Res({ passthrough: true }) response: Response): Promise<string> {
    const body = await this.registry.metrics();
    response.setHeader('content-type', this.registry.contentType);
    return body;
  }
}
