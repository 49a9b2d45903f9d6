import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { SERVICE_CONFIG } from '#libs/host';
import { analyze } from '../analysis/analyzer';
import type { GalleyConfig } from '../config';
import { DirectorySource } from '../directory/directory-source';
import { ResourceReader } from '../store/resource.reader';
import { parseListQuery } from './request-parsing';

/** `istioctl analyze` for the stored config, and the status of the directory source. */
@ApiTags('analysis')
@ApiBearerAuth()
@Controller('v1')
export class AnalysisController {
  constructor(
    @Inject(ResourceReader) private readonly reader: ResourceReader,
    @Inject(DirectorySource) private readonly directory: DirectorySource,
    @Inject(SERVICE_CONFIG) private readonly config: GalleyConfig,
  ) {}

  @Get('analyze')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'Analyze the stored config: findings with level (Error/Warning/Info) and an IST-style code',
  })
  @ApiQuery({ name: 'namespace', required: false, type: String })
  async analyze(@Query() query: unknown) {
    const { namespace } = parseListQuery(query);
    const [resources, state] = await Promise.all([this.reader.list(), this.reader.state()]);
    const findings = analyze({ resources, trustDomain: this.config.trustDomain, namespace });
    const count = (level: string) => findings.filter((f) => f.level === level).length;
    return {
      version: state.current,
      namespace: namespace ?? null,
      summary: { errors: count('Error'), warnings: count('Warning'), info: count('Info') },
      findings,
    };
  }

  @Get('sources')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'The directory source (GALLEY_CONFIG_DIR): per-file status and errors, as seen by this replica',
  })
  sources() {
    return this.directory.status();
  }
}
