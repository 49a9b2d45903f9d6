import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interpretDecision, interpretResultSet } from './decision';

describe('decision contract (opa-envoy-plugin)', () => {
  it('reads a boolean decision', () => {
    assert.equal(interpretResultSet([{ result: true }]).allowed, true);
    assert.equal(interpretResultSet([{ result: false }]).allowed, false);
  });

  it('denies an undefined decision as an error (fail closed)', () => {
    const decision = interpretResultSet([]);
    assert.equal(decision.allowed, false);
    assert.equal(decision.error?.code, 'DECISION_UNDEFINED');
  });

  it('reads an object decision with headers, removals, status and body', () => {
    const decision = interpretDecision({
      allowed: false,
      headers: { 'x-a': '1', 'x-b': ['2', '3'] },
      http_status: 401,
      body: 'who are you?',
    });
    assert.deepEqual(decision.headers, [
      { key: 'x-a', value: '1' },
      { key: 'x-b', value: '2' },
      { key: 'x-b', value: '3' },
    ]);
    assert.equal(decision.httpStatus, 401);
    assert.equal(decision.body, 'who are you?');
    const allowed = interpretDecision({
      allowed: true,
      request_headers_to_remove: ['authorization'],
      response_headers_to_add: [{ 'set-cookie': 'a=1' }, { 'set-cookie': 'b=2' }],
    });
    assert.deepEqual(allowed.requestHeadersToRemove, ['authorization']);
    assert.equal(allowed.responseHeadersToAdd.length, 2);
  });

  it('denies malformed decisions, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ headers: {} }, /allowed/],
      [{ allowed: 'yes' }, /allowed/],
      [{ allowed: true, http_status: 99 }, /http_status/],
      [{ allowed: true, headers: { a: 1 } }, /headers\.a/],
      [{ allowed: true, request_headers_to_remove: 'x' }, /request_headers_to_remove/],
      ['allow', /boolean or an object/],
      [[true], /boolean or an object/],
    ];
    for (const [value, message] of cases) {
      const decision = interpretDecision(value);
      assert.equal(decision.allowed, false, JSON.stringify(value));
      assert.equal(decision.error?.code, 'DECISION_MALFORMED');
      assert.match(decision.error!.message, message);
    }
  });
});
