import { Controller, Get, Header, HttpCode, Inject, Post, Res, UseFilters, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { BowlineError, Kinds, ProblemFilter } from '#libs/errors';
import type { IdentitySource } from '../identity/types';
import type { MeshConfigSource } from '../mesh/model';
import type { IstioMetrics } from '../telemetry/istio-metrics';
import { AdminTokenGuard } from './admin-token.guard';
import { certsDump, type CertsDump } from './certs';
import { configDump, type ConfigDump } from './config-dump';
import { readiness } from './readiness';
import { PROXY_ADMIN_HOOKS, PROXY_IDENTITY, PROXY_MESH, PROXY_METRICS, type ProxyAdminHooks } from './tokens';

/** `GET /ready`: the only admin route without a token (the kubelet probes it). */
@ApiTags('proxy-admin')
@Controller()
@UseFilters(ProblemFilter)
export class ProxyReadyController {
  constructor(
    @Inject(PROXY_IDENTITY) private readonly identity: IdentitySource,
    @Inject(PROXY_MESH) private readonly mesh: MeshConfigSource,
    @Inject(PROXY_ADMIN_HOOKS) private readonly hooks: ProxyAdminHooks,
  ) {}

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: 200 once the proxy has a workload certificate and a mesh config, else 503' })
  ready(@Res() response: Response): void {
    const report = readiness(this.identity, this.mesh, this.hooks.pending?.() ?? []);
    response
      .status(report.ready ? 200 : 503)
      .setHeader('cache-control', 'no-store')
      .json(report);
  }
}

/**
 * The proxy's Envoy-like admin API, every route behind the admin bearer token: Istio's
 * metrics scrape path, `/config_dump`, `/certs` and (when the app supports it) `/rotate`.
 */
@ApiTags('proxy-admin')
@ApiBearerAuth()
@Controller()
@UseGuards(AdminTokenGuard)
@UseFilters(ProblemFilter)
export class ProxyAdminController {
  constructor(
    @Inject(PROXY_IDENTITY) private readonly identity: IdentitySource,
    @Inject(PROXY_MESH) private readonly mesh: MeshConfigSource,
    @Inject(PROXY_METRICS) private readonly metrics: IstioMetrics,
    @Inject(PROXY_ADMIN_HOOKS) private readonly hooks: ProxyAdminHooks,
  ) {}

  @Get('stats/prometheus')
  @ApiProduces('text/plain')
  @ApiOperation({ summary: "Istio's standard metrics and the proxy's own, in the Prometheus text format" })
  async prometheus(@Res({ passthrough: true }) response: Response): Promise<string> {
    const body = await this.metrics.render();
    response.setHeader('content-type', this.metrics.contentType);
    return body;
  }

  @Get('config_dump')
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: "The running xDS configuration in the shape of Envoy's /config_dump (no key material)" })
  configDump(): ConfigDump {
    return configDump({
      config: this.mesh.current(),
      status: this.mesh.status(),
      identity: this.identity.current(),
      trustDomain: this.identity.trustDomain(),
      extra: this.hooks.extra?.(),
    });
  }

  @Get('certs')
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: "The workload certificate chain and trust roots, as Envoy's /certs (never the key)" })
  certs(): CertsDump {
    return certsDump(this.identity.current(), new Date());
  }

  @Post('rotate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotates the workload certificate now' })
  async rotate(): Promise<{ rotated: true; serial: string | null; notAfter: string | null }> {
    const { rotate } = this.hooks;
    if (!rotate) throw new BowlineError(Kinds.NOT_FOUND, 'this proxy was started without a rotation hook');
    try {
      await rotate();
    } catch (error) {
      if (error instanceof BowlineError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new BowlineError(Kinds.UNAVAILABLE, `certificate rotation failed: ${reason}`, [], { cause: error });
    }
    const certificate = this.identity.current()?.certificate;
    return {
      rotated: true,
      serial: certificate?.serial ?? null,
      notAfter: certificate?.notAfter.toISOString() ?? null,
    };
  }
}
