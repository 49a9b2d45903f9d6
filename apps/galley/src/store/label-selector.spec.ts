import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchesSelector, parseLabelSelector } from './label-selector';

describe('label selectors', () => {
  const labels = { app: 'reviews', version: 'v1' };
  const matches = (selector: string) => matchesSelector(labels, parseLabelSelector(selector));

  it('supports =, ==, != and existence, like kubectl -l', () => {
    assert.equal(matches('app=reviews'), true);
    assert.equal(matches('app==reviews,version=v1'), true);
    assert.equal(matches('app=reviews,version!=v1'), false);
    assert.equal(matches('tier!=db'), true, 'a missing label is "not equal"');
    assert.equal(matches('version'), true);
    assert.equal(matches('!version'), false);
    assert.equal(matches(''), true);
  });

  it('refuses what it cannot parse, naming the term', () => {
    assert.throws(() => parseLabelSelector('app=a=b'), /cannot parse "app=a=b"/);
    assert.throws(() => parseLabelSelector('!app=x'), /cannot parse/);
    assert.throws(() => parseLabelSelector('bad key=x'), /cannot parse/);
  });
});
