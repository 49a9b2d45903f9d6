import { type DynamicModule, Module } from '@nestjs/common';
import type { IdentitySource } from '../identity/types';
import type { MeshConfigSource } from '../mesh/model';
import type { IstioMetrics } from '../telemetry/istio-metrics';
import { adminTokenDigest, AdminTokenGuard } from './admin-token.guard';
import { ProxyAdminController, ProxyReadyController } from './proxy-admin.controller';
import {
  PROXY_ADMIN_HOOKS,
  PROXY_ADMIN_TOKEN,
  PROXY_IDENTITY,
  PROXY_MESH,
  PROXY_METRICS,
  type ProxyAdminHooks,
} from './tokens';

/** What the proxy admin API serves from. */
export interface ProxyAdminOptions extends ProxyAdminHooks {
  readonly identity: IdentitySource;
  readonly mesh: MeshConfigSource;
  readonly metrics: IstioMetrics;
  /** The bearer token every route but /ready requires; must not be empty. */
  readonly adminToken: string;
}

/**
 * The sidecar's admin HTTP API (Envoy's admin port, roughly): `GET /ready` (open),
 * `GET /stats/prometheus`, `GET /config_dump`, `GET /certs`, `POST /rotate` (admin token).
 * Also feeds `bowline_proxy_cert_expiry_seconds` and `bowline_proxy_xds_connected` from the
 * identity and mesh sources. Exports the sources under their tokens.
 */
@Module({})
export class ProxyAdminModule {
  /** @throws Error when `adminToken` is empty. */
  static forRoot(options: ProxyAdminOptions): DynamicModule {
    const token = adminTokenDigest(options.adminToken);
    const hooks: ProxyAdminHooks = { extra: options.extra, rotate: options.rotate, pending: options.pending };
    return {
      module: ProxyAdminModule,
      controllers: [ProxyReadyController, ProxyAdminController],
      providers: [
        { provide: PROXY_IDENTITY, useValue: options.identity },
        { provide: PROXY_MESH, useValue: options.mesh },
        { provide: PROXY_METRICS, useFactory: () => observed(options) },
        { provide: PROXY_ADMIN_TOKEN, useValue: token },
        { provide: PROXY_ADMIN_HOOKS, useValue: hooks },
        AdminTokenGuard,
      ],
      exports: [PROXY_IDENTITY, PROXY_MESH, PROXY_METRICS],
    };
  }
}

/** The metrics, now reading the certificate expiry and the xDS state at each scrape. */
function observed(options: ProxyAdminOptions): IstioMetrics {
  options.metrics.observeProxyState({
    certificateNotAfter: () => options.identity.current()?.certificate.notAfter,
    xdsConnected: () => options.mesh.status().connected,
  });
  return options.metrics;
}
