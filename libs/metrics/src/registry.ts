import { collectDefaultMetrics, Registry } from 'prom-client';

/** The process's metrics registry (inject with `@Inject(METRICS_REGISTRY)`). */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/**
 * prom-client's gauges that break the naming convention (`_total` is for counters; promtool
 * flags them). Each is the sum of a per-type gauge that stays: `sum(nodejs_active_handles)`.
 */
const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

let shared: Registry | undefined;

/**
 * The one registry of this process, created on first use with Node's default process metrics
 * (`process_*`, `nodejs_*`: the standard names dashboards and alerts expect, so unprefixed;
 * minus three misnamed duplicates, see MISNAMED_DEFAULT_METRICS).
 * Every Nest application started in this process shares it, so tests that create apps
 * repeatedly see the same metrics rather than "already registered" errors; declare metrics
 * with `counter`/`gauge`/`histogram`, which return the existing one.
 */
export function processRegistry(): Registry {
  if (!shared) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared });
    for (const name of MISNAMED_DEFAULT_METRICS) shared.removeSingleMetric(name);
  }
  return shared;
}
