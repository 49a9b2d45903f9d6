import { Inject, Injectable } from '@nestjs/common';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram, METRICS_REGISTRY } from '#libs/metrics';

/** xDS types as metric labels: lds, rds, cds, eds (or `other`). */
export type XdsTypeLabel = 'lds' | 'rds' | 'cds' | 'eds' | 'other';

/**
 * Pilot's metrics on the admin port's /metrics: connected proxies, pushes and NACKs by xDS
 * type, convergence (a change seen → the proxy's ACK), Galley connection and registry size.
 */
@Injectable()
export class PilotMetrics {
  private readonly proxies: Gauge;
  private readonly pushes: Counter<'type'>;
  private readonly rejects: Counter<'type'>;
  private readonly convergence: Histogram<'type'>;
  private readonly galley: Gauge;
  private readonly version: Gauge;
  private readonly services: Gauge;
  private readonly endpoints: Gauge;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.proxies = gauge(registry, {
      name: 'bowline_pilot_xds_connected_proxies',
      help: 'xDS (ADS) streams open to this Pilot.',
    });
    this.pushes = counter(registry, {
      name: 'bowline_pilot_xds_pushes_total',
      help: 'Discovery responses sent, by xDS type (lds, rds, cds, eds).',
      labelNames: ['type'],
    });
    this.rejects = counter(registry, {
      name: 'bowline_pilot_xds_rejects_total',
      help: 'Discovery responses a proxy rejected (NACK), by xDS type.',
      labelNames: ['type'],
    });
    this.convergence = histogram(registry, {
      name: 'bowline_pilot_proxy_convergence_seconds',
      help: 'From a config or registry change seen by Pilot to the proxy acknowledging the push it caused, by xDS type.',
      labelNames: ['type'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.galley = gauge(registry, {
      name: 'bowline_pilot_galley_connected',
      help: '1 while a Watch stream to Galley is open, else 0 (Pilot then serves its last config).',
    });
    this.version = gauge(registry, {
      name: 'bowline_pilot_config_version',
      help: 'The Galley resource version Pilot’s config reflects.',
    });
    this.services = gauge(registry, { name: 'bowline_pilot_services', help: 'Services in the registry.' });
    this.endpoints = gauge(registry, {
      name: 'bowline_pilot_endpoints',
      help: 'Healthy service endpoints in the registry (an endpoint of two services counts twice).',
    });
  }

  proxyConnected(delta: 1 | -1): void {
    this.proxies.inc(delta);
  }

  pushed(type: XdsTypeLabel): void {
    this.pushes.inc({ type });
  }

  rejected(type: XdsTypeLabel): void {
    this.rejects.inc({ type });
  }

  converged(type: XdsTypeLabel, seconds: number): void {
    this.convergence.observe({ type }, seconds);
  }

  galleyConnected(connected: boolean): void {
    this.galley.set(connected ? 1 : 0);
  }

  configVersion(version: number): void {
    this.version.set(version);
  }

  registrySize(services: number, endpoints: number): void {
    this.services.set(services);
    this.endpoints.set(endpoints);
  }
}
