import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BowlineError } from '#libs/errors';
import { normalisePolicy } from '../authorization/normalise';
import { parseBundleQuery } from './bundles.controller';
import { policiesFor, selects } from './workload-selection';

function problems(query: Record<string, unknown>): { path: string; message: string }[] {
  try {
    parseBundleQuery(query);
  } catch (error) {
    assert.ok(error instanceof BowlineError);
    assert.equal(error.kind.httpStatus, 400);
    return error.errors as { path: string; message: string }[];
  }
  assert.fail('expected a 400');
}

const policy = (matchLabels?: Record<string, string>) =>
  normalisePolicy(
    {
      namespace: 'default',
      name: 'p',
      annotations: {},
      resourceVersion: 1,
      spec: { ...(matchLabels ? { selector: { matchLabels } } : {}), action: 'ALLOW', rules: [{}] },
    },
    'istio-system',
  ).policy!;

describe('GET /v1/bundles/authz labels', () => {
  it('reads the workload labels; without them the request is the namespace one', () => {
    assert.deepEqual(parseBundleQuery({ namespace: 'ns', labels: 'app=server,version=v1' }).request, {
      namespace: 'ns',
      labels: { app: 'server', version: 'v1' },
    });
    assert.deepEqual(parseBundleQuery({ namespace: 'ns', labels: '' }).request, { namespace: 'ns', labels: {} });
    assert.deepEqual(parseBundleQuery({ namespace: 'ns' }).request, { namespace: 'ns' });
  });

  it('names the bad label in a 400', () => {
    assert.deepEqual(problems({ namespace: 'ns', labels: 'app=server,version' }), [
      { path: 'labels', message: '"version" is not key=value' },
    ]);
    assert.deepEqual(problems({ namespace: 'ns', labels: ['app=a', 'app=b'] }), [
      { path: 'labels', message: 'give it once, as key=value pairs separated by commas' },
    ]);
    assert.match(problems({ namespace: 'ns', labels: 'app=a b' })[0].message, /value of label "app"/);
  });

  it("selects as Istio's matchLabels: every pair present and equal; no selector selects all", () => {
    const labels = { app: 'server', version: 'v1' };
    assert.equal(selects(policy(), labels), true);
    assert.equal(selects(policy(), {}), true);
    assert.equal(selects(policy({ app: 'server' }), labels), true);
    assert.equal(selects(policy({ app: 'server', version: 'v1' }), labels), true);
    assert.equal(selects(policy({ app: 'server', version: 'v2' }), labels), false);
    assert.equal(selects(policy({ app: 'server', track: '' }), labels), false, 'an absent label is not ""');
    assert.equal(selects(policy({ toString: 'x' }), {}), false);
  });

  it("keeps the namespace's and the root namespace's policies selecting the workload, in set order", () => {
    const root = normalisePolicy(
      { namespace: 'istio-system', name: 'mesh', annotations: {}, resourceVersion: 1, spec: { action: 'DENY' } },
      'istio-system',
    ).policy!;
    const other = { ...policy(), namespace: 'other', id: 'other/p' };
    const set = [root, policy({ app: 'server' }), policy({ app: 'client' }), other];
    const ids = (labels?: Record<string, string>) => policiesFor(set, 'default', labels).map((p) => p.selector);
    assert.deepEqual(ids(), [{}, { app: 'server' }, { app: 'client' }]);
    assert.deepEqual(ids({ app: 'server' }), [{}, { app: 'server' }]);
    assert.deepEqual(ids({}), [{}]);
  });
});
