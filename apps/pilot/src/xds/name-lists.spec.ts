import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NameLists } from './name-lists';

describe('NameLists', () => {
  it('gives every subscriber of the same names one shared array', () => {
    const lists = new NameLists();
    const first = lists.intern(['outbound|80||a', 'outbound|80||b']);
    const second = lists.intern(['outbound|80||a', 'outbound|80||b']);
    assert.equal(second, first);
    assert.equal(lists.size, 1);
  });

  it('keeps lists that differ in a name, in order, or in how names split apart', () => {
    const lists = new NameLists();
    const lists1 = [['a', 'b'], ['b', 'a'], ['a,b'], ['a'], []].map((names) => lists.intern(names));
    assert.equal(new Set(lists1).size, 5);
    assert.deepEqual(lists1[2], ['a,b']);
  });
});
