import {
  Counter,
  type CounterConfiguration,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  type Metric,
  type Registry,
} from 'prom-client';

/** What a feature declares about a metric; the registry is given separately. */
export type CounterParams<L extends string> = Omit<CounterConfiguration<L>, 'registers'>;
export type GaugeParams<L extends string> = Omit<GaugeConfiguration<L>, 'registers'>;
export type HistogramParams<L extends string> = Omit<HistogramConfiguration<L>, 'registers'>;

/**
 * A counter on `registry`; the one already registered under `name` when there is one (a module
 * instantiated twice in a process shares its metrics).
 *
 * @throws Error when `name` is registered as another type or with other label names: two
 *   features disagreeing about one metric is a bug to fix, not to paper over.
 */
export function counter<L extends string = string>(registry: Registry, params: CounterParams<L>): Counter<L> {
  return getOrCreate(registry, params, Counter, () => new Counter<L>({ ...params, registers: [registry] }));
}

/** A gauge on `registry`, or the one already registered under `name` (see `counter`). */
export function gauge<L extends string = string>(registry: Registry, params: GaugeParams<L>): Gauge<L> {
  return getOrCreate(registry, params, Gauge, () => new Gauge<L>({ ...params, registers: [registry] }));
}

/** A histogram on `registry`, or the one already registered under `name` (see `counter`). */
export function histogram<L extends string = string>(registry: Registry, params: HistogramParams<L>): Histogram<L> {
  return getOrCreate(registry, params, Histogram, () => new Histogram<L>({ ...params, registers: [registry] }));
}

function getOrCreate<M extends Metric<string>>(
  registry: Registry,
  params: { name: string; labelNames?: readonly string[] },
  type: abstract new (...args: never[]) => M,
  create: () => M,
): M {
  const existing = registry.getSingleMetric(params.name);
  if (!existing) return create();
  if (!(existing instanceof type)) {
    throw new Error(`metric ${params.name} is already registered as another type (wanted a ${type.name})`);
  }
  const have = [...((existing as unknown as { labelNames?: readonly string[] }).labelNames ?? [])].sort();
  const want = [...(params.labelNames ?? [])].sort();
  if (have.join(',') !== want.join(',')) {
    throw new Error(
      `metric ${params.name} is already registered with labels [${have.join(', ')}], not [${want.join(', ')}]`,
    );
  }
  return existing;
}
