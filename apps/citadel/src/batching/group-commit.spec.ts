import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchContractError, GroupCommit } from './group-commit';

/** A promise and the functions that settle it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('GroupCommit', () => {
  it('runs a lone item at once, in a batch of one', async () => {
    const batches: number[][] = [];
    const group = new GroupCommit<number, number>(
      async (items) => {
        batches.push([...items]);
        return items.map((n) => n * 2);
      },
      { maxBatch: 10 },
    );
    assert.equal(await group.submit(21), 42);
    assert.deepEqual(batches, [[21]]);
  });

  it('puts items submitted in the same turn in one batch and gives each its own result', async () => {
    const batches: number[][] = [];
    const group = new GroupCommit<number, string>(
      async (items) => {
        batches.push([...items]);
        return items.map((n) => `#${n}`);
      },
      { maxBatch: 10 },
    );
    const results = await Promise.all([1, 2, 3].map((n) => group.submit(n)));
    assert.deepEqual(results, ['#1', '#2', '#3']);
    assert.deepEqual(batches, [[1, 2, 3]]);
  });

  it('collects what arrives while a batch runs into the next one, up to maxBatch', async () => {
    const batches: number[][] = [];
    const gate = deferred();
    const group = new GroupCommit<number, number>(
      async (items) => {
        batches.push([...items]);
        if (batches.length === 1) await gate.promise;
        return [...items];
      },
      { maxBatch: 3 },
    );
    const first = group.submit(0);
    await new Promise((r) => setImmediate(r)); // the first batch is running now
    const later = [1, 2, 3, 4, 5].map((n) => group.submit(n));
    assert.equal(group.pending, 5);
    gate.resolve();
    assert.deepEqual(await Promise.all([first, ...later]), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(batches, [[0], [1, 2, 3], [4, 5]]);
  });

  it('never runs more batches at once than maxInFlight', async () => {
    let running = 0;
    let most = 0;
    const group = new GroupCommit<number, number>(
      async (items) => {
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return [...items];
      },
      { maxBatch: 1, maxInFlight: 2 },
    );
    await Promise.all(Array.from({ length: 7 }, (_, n) => group.submit(n)));
    assert.equal(most, 2);
  });

  it('fails every item of a batch that throws, and carries on with the next', async () => {
    let calls = 0;
    const group = new GroupCommit<number, number>(
      async (items) => {
        if (++calls === 1) throw new Error('connection lost');
        return [...items];
      },
      { maxBatch: 10 },
    );
    const failed = await Promise.allSettled([group.submit(1), group.submit(2)]);
    assert.deepEqual(
      failed.map((r) => r.status === 'rejected' && (r.reason as Error).message),
      ['connection lost', 'connection lost'],
    );
    assert.equal(await group.submit(3), 3);
  });

  it('fails a batch whose runner returns the wrong number of results', async () => {
    const group = new GroupCommit<number, number>(async () => [1], { maxBatch: 10 });
    const results = await Promise.allSettled([group.submit(1), group.submit(2)]);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok((result as PromiseRejectedResult).reason instanceof BatchContractError);
    }
  });
});
