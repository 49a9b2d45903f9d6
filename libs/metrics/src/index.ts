/**
 * libs/metrics: Prometheus metrics for every service. `MetricsModule` (wired by libs/host)
 * serves `GET /metrics`; features inject `METRICS_REGISTRY` and declare their metrics with
 * `counter` / `gauge` / `histogram`. Names follow Prometheus conventions: `bowline_` prefix,
 * base units (`_seconds`, `_bytes`), `_total` on counters only.
 */
export { METRICS_REGISTRY, processRegistry } from './registry';
export { counter, gauge, histogram, type CounterParams, type GaugeParams, type HistogramParams } from './declare';
export { bowlineVersion, recordBuildInfo } from './build-info';
export { MetricsModule, type MetricsModuleOptions } from './metrics.module';
export { MetricsController } from './metrics.controller';
export { HttpMetricsMiddleware, UNMATCHED_ROUTE } from './http-metrics.middleware';
