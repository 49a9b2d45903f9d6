/**
 * The storage behind the Istio metrics: the hot path finds a request's series with a few
 * `Map` lookups and bumps plain numbers; prom-client only sees the series at scrape time.
 */

/** What every series in a `SeriesIndex` carries. */
export interface IndexedSeries {
  /** The series' label values joined in a fixed order: two series never share it. */
  readonly labelKey: string;
}

type Level = Map<unknown, unknown>;

/**
 * Series by the raw inputs their labels derive from, one `Map` level per input. That is
 * cheaper than joining the inputs into one string per request: the inputs are mostly the
 * same string objects each time, whose hashes V8 caches, and nothing is allocated on a hit.
 * Different inputs that yield the same labels (`''` and `unknown`, say) share one series, so
 * the exposition never holds a duplicate. At most `maxSeries` distinct series are kept.
 */
export class SeriesIndex<S extends IndexedSeries> {
  private readonly root: Level = new Map();
  private readonly byLabels = new Map<string, S>();

  constructor(
    private readonly depth: number,
    private readonly maxSeries: number,
  ) {}

  /** How many distinct series there are. */
  get size(): number {
    return this.byLabels.size;
  }

  /** Every series, in creation order. */
  series(): IterableIterator<S> {
    return this.byLabels.values();
  }

  /**
   * The series for `path` (its first `depth` entries). On a miss `create(a, b)` builds the
   * candidate, which is merged with an existing series of the same labels or added. (The
   * arguments are passed through rather than closed over: no closure per call.)
   *
   * @returns undefined when the series would be new and the index is full.
   */
  resolve<A, B>(path: readonly unknown[], create: (a: A, b: B) => S, a: A, b: B): S | undefined {
    const found = this.find(path);
    if (found !== undefined) return found;
    const candidate = create(a, b);
    let series = this.byLabels.get(candidate.labelKey);
    if (series === undefined) {
      if (this.byLabels.size >= this.maxSeries) return undefined;
      series = candidate;
      this.byLabels.set(series.labelKey, series);
    }
    this.insert(path, series);
    return series;
  }

  private find(path: readonly unknown[]): S | undefined {
    let level: Level | undefined = this.root;
    const last = this.depth - 1;
    for (let i = 0; i < last; i++) {
      level = level.get(path[i]) as Level | undefined;
      if (level === undefined) return undefined;
    }
    return level.get(path[last]) as S | undefined;
  }

  private insert(path: readonly unknown[], series: S): void {
    let level = this.root;
    const last = this.depth - 1;
    for (let i = 0; i < last; i++) {
      let next = level.get(path[i]) as Level | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(path[i], next);
      }
      level = next;
    }
    level.set(path[last], series);
  }
}

/** One histogram series: per-bucket (not cumulative) counts, the sum and the count. */
export class HistogramCells {
  /** `counts[i]`: observations in `(bounds[i-1], bounds[i]]`; above the last bound only `count` has them. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  /** Records `value`; a negative, NaN or infinite one counts as 0 rather than poisoning the sum. */
  observe(value: number): void {
    if (!(value >= 0 && value < Infinity)) value = 0;
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    if (i < bounds.length) this.counts[i] += 1;
    this.sum += value;
    this.count += 1;
  }
}
