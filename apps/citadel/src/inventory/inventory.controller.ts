import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { BowlineError, type FieldProblem, Kinds } from '#libs/errors';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import { formatSpiffeId } from '#libs/pki';
import { InventoryService, type SearchParams } from './inventory.service';

/** The certificate inventory: what was issued to whom, until when. Read-only. */
@ApiTags('certificates')
@ApiBearerAuth()
@Controller('v1/certificates')
@RequireRole('viewer')
export class InventoryController {
  constructor(
    @Inject(InventoryService) private readonly inventory: InventoryService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(SERVICE_CONFIG) private readonly config: { trustDomain: string },
  ) {}

  @Get()
  @ApiOperation({ summary: 'Search issued certificates by identity and/or "expires within"' })
  @ApiQuery({ name: 'namespace', required: false })
  @ApiQuery({ name: 'serviceAccount', required: false })
  @ApiQuery({ name: 'expiresWithinSeconds', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-1000, default 100' })
  async search(@Query() query: Record<string, string | undefined>) {
    return { items: await this.inventory.search(this.parseSearch(query), this.clock.now()) };
  }

  @Get(':serial')
  @ApiOperation({ summary: 'One issued certificate by serial (hex)' })
  async get(@Param('serial') serial: string) {
    if (!/^[0-9A-Fa-f]{1,64}$/.test(serial)) {
      throw new BowlineError(Kinds.INVALID_ARGUMENT, 'serial must be hexadecimal', [
        { path: 'serial', message: 'must be hexadecimal' },
      ]);
    }
    return this.inventory.get(serial);
  }

  private parseSearch(query: Record<string, string | undefined>): SearchParams {
    const problems: FieldProblem[] = [];
    const integer = (name: string, min: number, max: number): number | undefined => {
      const raw = query[name];
      if (raw === undefined) return undefined;
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min || value > max)
        problems.push({ path: name, message: `must be a whole number from ${min} to ${max}` });
      return value;
    };
    const params: SearchParams = {
      expiresWithinSeconds: integer('expiresWithinSeconds', 0, 10 * 365 * 86_400),
      limit: integer('limit', 1, 1000) ?? 100,
    };
    const { namespace, serviceAccount } = query;
    if ((namespace === undefined) !== (serviceAccount === undefined)) {
      problems.push({
        path: namespace === undefined ? 'namespace' : 'serviceAccount',
        message: 'give both namespace and serviceAccount',
      });
    } else if (namespace !== undefined && serviceAccount !== undefined) {
      try {
        params.spiffeId = formatSpiffeId({ trustDomain: this.config.trustDomain, namespace, serviceAccount });
      } catch (error) {
        problems.push({ path: 'namespace', message: error instanceof Error ? error.message : String(error) });
      }
    }
    if (problems.length > 0) {
      throw new BowlineError(
        Kinds.INVALID_ARGUMENT,
        problems.map((p) => `${p.path}: ${p.message}`).join('; '),
        problems,
      );
    }
    return params;
  }
}
