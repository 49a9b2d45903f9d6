import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatWorkloadLabels, parseWorkloadLabels } from './workload-labels';

describe('workload labels (the bundle request parameter)', () => {
  it('reads key=value pairs; empty is a workload without labels', () => {
    assert.deepEqual(parseWorkloadLabels('app=server,version=v1,app.kubernetes.io/part-of=shop,empty='), {
      app: 'server',
      version: 'v1',
      'app.kubernetes.io/part-of': 'shop',
      empty: '',
    });
    assert.deepEqual(parseWorkloadLabels(''), {});
  });

  it('names the first problem: not key=value, a bad key or value, a repeated key', () => {
    assert.throws(() => parseWorkloadLabels('app=server,version'), /^Error: "version" is not key=value$/);
    assert.throws(() => parseWorkloadLabels('app=server,'), /"" is not key=value/);
    assert.throws(() => parseWorkloadLabels('=server'), /"" is not a label key/);
    assert.throws(() => parseWorkloadLabels('-app=x'), /"-app" is not a label key/);
    assert.throws(() => parseWorkloadLabels(`${'a'.repeat(64)}=x`), /is not a label key/);
    assert.throws(() => parseWorkloadLabels('Bad_Prefix/app=x'), /prefix of label key "Bad_Prefix\/app"/);
    assert.throws(() => parseWorkloadLabels('app=a=b'), /value of label "app" is not a label value/);
    assert.throws(() => parseWorkloadLabels('app=x,app=y'), /label "app" is given twice/);
  });

  it('writes what it reads, sorted by key; null when a label cannot be sent', () => {
    const text = formatWorkloadLabels({ version: 'v1', app: 'server', 'example.com/tier': '' })!;
    assert.equal(text, 'app=server,example.com/tier=,version=v1');
    assert.deepEqual(parseWorkloadLabels(text), { app: 'server', 'example.com/tier': '', version: 'v1' });
    assert.equal(formatWorkloadLabels({}), '');
    assert.equal(formatWorkloadLabels({ app: 'a,b' }), null);
  });
});
