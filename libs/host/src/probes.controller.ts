import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { Public } from '#libs/auth';
import { checkReadiness } from '#libs/db';
import { PROBLEM_CONTENT_TYPE } from '#libs/errors';

/** Liveness and readiness, the only routes that need no token. */
@ApiTags('probes')
@Controller()
@Public()
export class ProbesController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Get('healthz')
  @ApiOperation({ summary: 'Liveness: the process is up' })
  healthz() {
    return { status: 'ok' };
  }

  @Get('readyz')
  @ApiOperation({ summary: 'Readiness: PostgreSQL answers and the schema is at the latest migration' })
  async readyz(@Res() response: Response): Promise<void> {
    const report = await checkReadiness(this.dataSource);
    if (report.ready) {
      response.status(HttpStatus.OK).json({ status: 'ready', checks: report.checks });
      return;
    }
    const detail =
      report.checks.database !== 'ok'
        ? 'PostgreSQL is not reachable'
        : report.checks.migrations === 'pending'
          ? 'schema migrations are pending: run `npm run migration:run`'
          : 'the migration state could not be read';
    response
      .status(HttpStatus.SERVICE_UNAVAILABLE)
      .type(PROBLEM_CONTENT_TYPE)
      .send(
        JSON.stringify({
          type: 'urn:bowline:error:not_ready',
          title: 'Not ready',
          status: 503,
          detail,
          checks: report.checks,
        }),
      );
  }
}
