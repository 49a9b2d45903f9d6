/**
 * prom-client metrics whose series live elsewhere (a `SeriesIndex`), read at scrape time.
 * prom-client's own `inc`/`observe` validate and hash every label on every call (several
 * microseconds with Istio's 25 labels); these let the request path bump plain numbers and
 * still render through a prom-client `Registry`, with its escaping and content type.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { HistogramCells } from './series-index';

/** Label values of one series, by label name. */
export type SeriesLabels<L extends string> = Readonly<Record<L, string>>;

/** One counter series as the source reports it. */
export interface CounterSample<L extends string> {
  readonly labels: SeriesLabels<L>;
  readonly value: number;
}

/** One histogram series as the source reports it. */
export interface HistogramSample<L extends string> {
  readonly labels: SeriesLabels<L>;
  readonly cells: HistogramCells;
}

/** Name, help and label names of an exported metric, and the registry it joins. */
export interface ExportedMetricSpec<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly registry: Registry;
}

/** A sample line as prom-client's `Registry` renders it (see its `getMetricsAsString`). */
interface RenderedSample {
  readonly metricName?: string;
  readonly labels: Readonly<Record<string, string | number>>;
  /** Labels shared by many lines of one series: prom-client formats them once per object. */
  readonly sharedLabels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** What prom-client's `get()` returns at runtime (its typings declare `type` as a numeric enum). */
interface RenderedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly values: readonly RenderedSample[];
  readonly aggregator: 'sum';
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});
const INF_LABELS = Object.freeze({ le: '+Inf' });

/** A prom-client counter reading its series from `source` at each scrape. */
export class ExportedCounter<L extends string> extends Counter<L> {
  constructor(
    private readonly spec: ExportedMetricSpec<L>,
    private readonly source: () => Iterable<CounterSample<L>>,
  ) {
    super({ name: spec.name, help: spec.help, labelNames: spec.labelNames, registers: [spec.registry] });
  }

  override async get(): ReturnType<Counter<L>['get']> {
    const values: RenderedSample[] = [];
    for (const sample of this.source()) values.push({ labels: sample.labels, value: sample.value });
    return asPromClient<Counter<L>>(rendered(this.spec, 'counter', values));
  }
}

/** A prom-client histogram reading its series (bucket counts, sum, count) from `source` at each scrape. */
export class ExportedHistogram<L extends string> extends Histogram<L> {
  /** `{le: "<bound>"}` per bound, shared by every series' bucket lines. */
  private readonly leLabels: readonly Readonly<Record<'le', number>>[];

  constructor(
    private readonly spec: ExportedMetricSpec<L> & { readonly buckets: readonly number[] },
    private readonly source: () => Iterable<HistogramSample<L>>,
  ) {
    super({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames,
      buckets: [...spec.buckets],
      registers: [spec.registry],
    });
    this.leLabels = spec.buckets.map((le) => Object.freeze({ le }));
  }

  /** What `Registry#metrics()` renders (prom-client prefers it to `get()` for histograms). */
  async getForPromString(): Promise<RenderedMetric> {
    const values: RenderedSample[] = [];
    for (const { labels, cells } of this.source()) this.pushSeries(values, labels, cells);
    return rendered(this.spec, 'histogram', values);
  }

  /** The same samples with each line's labels spelled out (`Registry#getMetricsAsJSON()`). */
  override async get(): ReturnType<Histogram<L>['get']> {
    const flat = await this.getForPromString();
    const values = flat.values.map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...sharedLabels, ...labels },
    }));
    return asPromClient<Histogram<L>>({ ...flat, values });
  }

  private pushSeries(values: RenderedSample[], labels: SeriesLabels<L>, cells: HistogramCells): void {
    const bucket = `${this.spec.name}_bucket`;
    let cumulative = 0;
    for (let i = 0; i < cells.counts.length; i++) {
      cumulative += cells.counts[i];
      values.push({ metricName: bucket, labels: this.leLabels[i]!, sharedLabels: labels, value: cumulative });
    }
    values.push({ metricName: bucket, labels: INF_LABELS, sharedLabels: labels, value: cells.count });
    values.push({ metricName: `${this.spec.name}_sum`, labels: NO_LABELS, sharedLabels: labels, value: cells.sum });
    values.push({ metricName: `${this.spec.name}_count`, labels: NO_LABELS, sharedLabels: labels, value: cells.count });
  }
}

function rendered(
  spec: ExportedMetricSpec<string>,
  type: RenderedMetric['type'],
  values: readonly RenderedSample[],
): RenderedMetric {
  return { name: spec.name, help: spec.help, type, values, aggregator: 'sum' };
}

/**
 * prom-client's typings say `get()` resolves to an object whose `type` is a numeric enum and
 * that carries `collect`; at runtime it is the string type and no `collect` (what the
 * Registry reads). The runtime shape is what we produce.
 */
function asPromClient<M extends { get(): Promise<unknown> }>(metric: RenderedMetric): Awaited<ReturnType<M['get']>> {
  return metric as unknown as Awaited<ReturnType<M['get']>>;
}
