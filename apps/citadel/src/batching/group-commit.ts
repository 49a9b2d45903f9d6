/** Runs one batch: returns one result per item, in order, or throws to fail them all. */
export type BatchRunner<In, Out> = (items: readonly In[]) => Promise<readonly Out[]>;

export interface GroupCommitOptions {
  /** Most items in one batch; more wait for the next one. */
  maxBatch: number;
  /** Batches running at once. 1 gives classic group commit: whoever arrives during a batch joins the next. */
  maxInFlight?: number;
}

interface Waiting<In, Out> {
  item: In;
  resolve: (out: Out) => void;
  reject: (error: Error) => void;
}

/** Raised inside the batcher when a runner breaks its contract (wrong number of results). */
export class BatchContractError extends Error {
  constructor(expected: number, actual: number) {
    super(`a batch of ${expected} items returned ${actual} results`);
    this.name = 'BatchContractError';
  }
}

/**
 * Group commit: callers submit single items and each gets its own result, but items that
 * arrive while a batch is running (or in the same event-loop turn) share the next batch: one
 * statement and one commit for many requests. An idle system runs a lone item at once (after
 * the current turn), so batching adds no timer and no latency at low load.
 */
export class GroupCommit<In, Out> {
  private readonly queue: Waiting<In, Out>[] = [];
  private readonly maxInFlight: number;
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: BatchRunner<In, Out>,
    private readonly options: GroupCommitOptions,
  ) {
    this.maxInFlight = options.maxInFlight ?? 1;
  }

  /** Queues `item` for the next batch; settles with its own result or the batch's error. */
  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting for a batch (not counting the ones running). */
  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // After this turn: everything submitted by the callbacks now running joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.startBatch();
    });
  }

  private startBatch(): void {
    if (this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.maxBatch);
    this.inFlight++;
    void this.settle(batch).finally(() => {
      this.inFlight--;
      this.schedule();
    });
    this.schedule();
  }

  private async settle(batch: Waiting<In, Out>[]): Promise<void> {
    try {
      const results = await this.run(batch.map((waiting) => waiting.item));
      if (results.length !== batch.length) throw new BatchContractError(batch.length, results.length);
      batch.forEach((waiting, i) => waiting.resolve(results[i]!));
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      batch.forEach((waiting) => waiting.reject(failure));
    }
  }
}
