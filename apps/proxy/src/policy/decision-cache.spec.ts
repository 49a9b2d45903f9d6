import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecisionCache } from './decision-cache';

describe('DecisionCache', () => {
  it('keeps an input on its second sighting, not its first', () => {
    const cache = new DecisionCache<number>(4);
    cache.offer('a', 1);
    assert.equal(cache.get('a'), undefined);
    cache.offer('a', 1);
    assert.equal(cache.get('a'), 1);
    assert.equal(cache.size, 1);
  });

  it('holds at most its capacity, dropping the oldest first', () => {
    const cache = new DecisionCache<string>(3);
    for (const key of ['k1', 'k2', 'k3', 'k4']) {
      cache.offer(key, key);
      cache.offer(key, key);
    }
    assert.equal(cache.size, 3);
    assert.deepEqual(
      ['k1', 'k2', 'k3', 'k4'].map((k) => cache.get(k)),
      [undefined, 'k2', 'k3', 'k4'],
    );
  });

  it('keeps nothing with capacity 0, nor an input longer than the limit', () => {
    const none = new DecisionCache<number>(0);
    none.offer('a', 1);
    none.offer('a', 1);
    assert.equal(none.get('a'), undefined);
    const short = new DecisionCache<number>(8, 4);
    short.offer('12345', 1);
    short.offer('12345', 1);
    assert.equal(short.get('12345'), undefined);
  });
});
