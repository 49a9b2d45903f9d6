import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BowlineError } from '#libs/errors';
import { parseDecisionLogQuery } from './decision-log-query';
import { parseDecisionBatch, parseTimestamp } from './decision-log-request';
import { InputMasker } from './masking';

const masker = new InputMasker();
const problems = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof BowlineError);
    return error.errors.map((p) => p.path).sort();
  }
  assert.fail('expected a refusal');
};

/** A decision log entry exactly as a stock OPA sends it. */
const opaEntry = {
  decision_id: '4ee1ea5a-27a1-4a4e-9d86-97d2b2c4bd58',
  path: 'envoy/authz/allow',
  input: { attributes: { request: { http: { method: 'GET', path: '/x', headers: { authorization: 'Bearer t' } } } } },
  result: { allowed: false, http_status: 429 },
  requested_by: '127.0.0.1:50512',
  timestamp: '2026-11-25T18:00:00.123456789Z',
  metrics: { timer_rego_query_eval_ns: 51_000 },
  labels: { id: 'e0c7a4c2', version: '1.22.3' },
  bundles: { 'authz/bundle': { revision: 'abc' } },
};

describe('decision log requests', () => {
  it('accept a stock OPA entry: outcome from its result, reporter from its labels, masked', () => {
    const [record] = parseDecisionBatch({ decisions: [opaEntry] }, masker, 'token:proxy');
    assert.equal(record.allowed, false);
    assert.equal(record.httpStatus, 429);
    assert.equal(record.reporter, 'e0c7a4c2');
    assert.equal(record.evalDurationMicros, 51);
    assert.equal(record.policy, null, 'a bundle name that is not a policy name names no policy');
    assert.equal(record.decidedAt.toISOString(), '2026-11-25T18:00:00.123Z');
    assert.equal((record.input as any).attributes.request.http.headers.authorization, '[masked]');
    assert.equal(opaEntry.input.attributes.request.http.headers.authorization, 'Bearer t');
  });

  it('let Bowline fields override what OPA fields imply', () => {
    const entry = { ...opaEntry, allowed: true, policy: 'shop-authz', revision: 3, reporter: 'proxy-7' };
    const [record] = parseDecisionBatch({ decisions: [entry] }, masker, 'token:proxy');
    assert.deepEqual(
      [record.allowed, record.policy, record.revision, record.reporter],
      [true, 'shop-authz', 3, 'proxy-7'],
    );
  });

  it('refuse a batch naming each bad field by index', () => {
    const bad = { ...opaEntry, decision_id: '', timestamp: '2026-11-25 18:00', input: 'x', policy: 'Not A Name' };
    assert.deepEqual(
      problems(() => parseDecisionBatch({ decisions: [opaEntry, bad] }, masker, 'p')),
      ['decisions[1].decision_id', 'decisions[1].input', 'decisions[1].policy', 'decisions[1].timestamp'],
    );
    assert.deepEqual(
      problems(() => parseDecisionBatch({ decisions: new Array(1001).fill(opaEntry) }, masker, 'p')),
      ['decisions'],
    );
  });

  it('read RFC 3339 timestamps only', () => {
    assert.equal(parseTimestamp('2026-11-25T19:00:00+01:00')?.toISOString(), '2026-11-25T18:00:00.000Z');
    assert.equal(parseTimestamp('2026-11-25'), null);
    assert.equal(parseTimestamp('2026-13-45T00:00:00Z'), null);
  });

  it('parse queries: prefix paths, allow/deny, limits, and refuse repeated or unknown parameters', () => {
    const query = parseDecisionLogQuery({ path: '/api/*', decision: 'deny', limit: '5', revision: '2' });
    assert.deepEqual(query, { path: { value: '/api/', prefix: true }, allowed: false, limit: 5, revision: 2 });
    assert.deepEqual(
      problems(() =>
        parseDecisionLogQuery({
          principal: ['a', 'b'],
          to: '2026-01-01T00:00:00Z',
          from: '2026-02-01T00:00:00Z',
          x: '1',
        }),
      ),
      ['principal', 'to', 'x'],
    );
  });
});
