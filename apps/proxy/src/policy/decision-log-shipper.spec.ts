import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DecisionLogEntry, type DecisionRecord, maskInput, toLogEntry } from './decision-log-shipper';

/** The entry as toLogEntry built it before it avoided `delete`: the oracle for its fields and their order. */
function spreadThenDelete(record: DecisionRecord): DecisionLogEntry {
  const { time, ...fields } = record;
  const entry = {
    ...fields,
    decision_id: record.decision_id!,
    timestamp: record.timestamp ?? new Date(time ?? Date.now()).toISOString(),
    input: maskInput(typeof record.input === 'function' ? record.input() : record.input),
  };
  for (const key of Object.keys(entry) as (keyof DecisionLogEntry)[]) {
    if (entry[key] === undefined) delete entry[key];
  }
  return entry;
}

const INPUT = {
  attributes: {
    request: { http: { method: 'GET', headers: { Authorization: 'Bearer t', cookie: 'c', 'x-ok': '1' } } },
  },
};

describe('toLogEntry (a recorded decision as the policy service receives it)', () => {
  const records: (() => DecisionRecord)[] = [
    // As PolicyAuthorizer records one: a lazy input, undefined fields, no id or timestamp yet.
    () => ({
      time: Date.parse('2030-01-02T03:04:05.678Z'),
      path: 'envoy/authz/allow',
      input: () => structuredClone(INPUT),
      result: { allowed: true },
      allowed: true,
      http_status: undefined,
      policy: 'p',
      revision: 2,
      reason: 'allowed',
      reporter: 'proxy:server.default',
      metrics: { timer_rego_query_eval_ns: 1000 },
    }),
    // A retried one: its id and timestamp already set, an input object.
    () => ({
      decision_id: 'd-1',
      timestamp: '2030-01-02T03:04:05.000Z',
      path: 'bowline/proxy/authz',
      input: structuredClone(INPUT),
      allowed: false,
      http_status: 403,
      reporter: 'r',
    }),
    // A timestamp given as undefined, and no time.
    () => ({ timestamp: undefined, path: 'x', input: {}, allowed: true, reporter: 'r', time: 5 }),
  ];

  it('has the fields, values and order it had when built by spreading and deleting', () => {
    for (const make of records) {
      const record = make();
      const entry = toLogEntry(record);
      assert.equal(JSON.stringify(entry), JSON.stringify(spreadThenDelete(record)));
      assert.ok(!Object.values(entry).includes(undefined));
    }
  });

  it('masks the secret headers whatever their case, and keeps the id of a retried record', () => {
    const record = records[0]();
    const first = toLogEntry(record);
    const headers = (first.input.attributes as typeof INPUT.attributes).request.http.headers;
    assert.deepEqual(headers, { Authorization: '[masked]', cookie: '[masked]', 'x-ok': '1' });
    assert.equal(toLogEntry(record).decision_id, first.decision_id);
    // The record's own input is not changed.
    const given = records[1]();
    toLogEntry(given);
    assert.equal((given.input as typeof INPUT).attributes.request.http.headers.Authorization, 'Bearer t');
  });
});
