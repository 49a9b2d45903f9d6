import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminCall, createTestDatabase, ServiceProcess, type TestDatabase, until } from '#libs/testing';
import { ADMIN_SA, FRONTEND, OPEN, STRANGER } from './policy-decision-fixtures';

const ADMIN = 'decision-replay-e2e-admin-token-0123456789';

/** Revision 2 (a draft): the same, but nobody may DELETE. */
const NO_DELETE = `package envoy.authz

default allow := false

allow if {
	input.attributes.source.principal != "${STRANGER}"
	input.attributes.request.http.method != "DELETE"
}
`;

/** The recorded traffic: request id, principal, method, path. */
const TRAFFIC: [string, string, string, string][] = [
  ['r-get', FRONTEND, 'GET', '/api/products/1'],
  ['r-post', FRONTEND, 'POST', '/api/products'],
  ['r-del-1', FRONTEND, 'DELETE', '/api/products/1'],
  ['r-del-2', ADMIN_SA, 'DELETE', '/api/orders/9'],
  ['r-stranger-get', STRANGER, 'GET', '/api/products/1'],
  ['r-stranger-del', STRANGER, 'DELETE', '/api/products/1'],
];

describe('Policy: replaying recorded decisions, and the recorder under pressure', () => {
  let db: TestDatabase;
  let policy: ServiceProcess;
  let started: Date;

  const call = (service: ServiceProcess, method: string, path: string, body?: unknown, token = ADMIN) =>
    adminCall(service.adminUrl, token, method, path, body);
  const api = (method: string, path: string, body?: unknown, token = ADMIN) => call(policy, method, path, body, token);
  const ask = async (service: ServiceProcess, [id, source, method, path]: [string, string, string, string]) => {
    const request = { source, method, path, headers: { 'x-request-id': id } };
    const answer = await call(service, 'POST', '/v1/authz/check', { policy: 'shop-authz', request });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  };
  const metrics = async (service: ServiceProcess) =>
    (await fetch(`${service.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
  const replay = (revision: number, body: object) =>
    api('POST', `/v1/policies/shop-authz/revisions/${revision}:replay`, body);

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    policy = await ServiceProcess.spawn('policy', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      POLICY_DECISION_LOG_FLUSH: '100ms',
    });
    await policy.waitFor('/readyz');
    const created = await api('POST', '/v1/policies', {
      name: 'shop-authz',
      modules: { 'a.rego': OPEN },
      activate: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    started = new Date(Date.now() - 1000);
    for (const request of TRAFFIC) await ask(policy, request);
    await until('the traffic to be logged', async () => {
      const page = await api('GET', '/v1/decision-logs?policy=shop-authz');
      return page.body.items.length === TRAFFIC.length ? true : undefined;
    });
  });
  after(async () => {
    await policy?.stop();
    await db?.drop();
  });

  it('reports exactly the recorded DELETEs as newly denied by a draft that forbids DELETE', async () => {
    const draft = await api('POST', '/v1/policies/shop-authz/revisions', { modules: { 'a.rego': NO_DELETE } });
    assert.equal(draft.status, 201, JSON.stringify(draft.body));
    assert.equal(draft.body.status, 'draft');
    const window = { from: started.toISOString(), to: new Date(Date.now() + 1000).toISOString() };

    const report = await replay(2, window);
    assert.equal(report.status, 200, JSON.stringify(report.body));
    assert.equal(report.body.evaluated, TRAFFIC.length);
    assert.equal(report.body.unchanged, TRAFFIC.length - 2);
    assert.equal(report.body.newlyDenied.count, 2);
    assert.deepEqual(report.body.newlyDenied.samples.map((s: any) => [s.requestId, s.principal, s.path]).sort(), [
      ['r-del-1', FRONTEND, '/api/products/1'],
      ['r-del-2', ADMIN_SA, '/api/orders/9'],
    ]);
    for (const sample of report.body.newlyDenied.samples) assert.match(sample.decisionId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(report.body.newlyAllowed, { count: 0, samples: [] });
    assert.deepEqual(report.body.errors, { count: 0, samples: [] });
    assert.equal(report.body.truncated, false);

    const same = await replay(1, window);
    assert.deepEqual([same.body.evaluated, same.body.unchanged], [TRAFFIC.length, TRAFFIC.length]);
    const limited = await replay(2, { ...window, limit: 2 });
    assert.deepEqual([limited.body.evaluated, limited.body.truncated], [2, true]);
  });

  it('replays the decisions of every policy when asked', async () => {
    const stored = await api('POST', '/v1/decision-logs', {
      decisions: [
        {
          decision_id: 'other-1',
          timestamp: new Date().toISOString(),
          input: {
            attributes: {
              source: { principal: FRONTEND },
              request: { http: { method: 'DELETE', path: '/x', headers: { 'x-request-id': 'other-del' } } },
            },
          },
          result: true,
          policy: 'other-authz',
        },
      ],
    });
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
    const window = { from: started.toISOString(), to: new Date(Date.now() + 1000).toISOString() };
    assert.equal((await replay(2, window)).body.newlyDenied.count, 2);
    const all = await replay(2, { ...window, allPolicies: true });
    assert.equal(all.body.evaluated, TRAFFIC.length + 1);
    assert.deepEqual(all.body.newlyDenied.samples.map((s: any) => s.requestId).sort(), [
      'other-del',
      'r-del-1',
      'r-del-2',
    ]);
  });

  it('refuses an unknown revision or policy, an invalid window and a viewer; other actions still work', async () => {
    const window = { from: started.toISOString(), to: new Date().toISOString() };
    const missing = await replay(9, window);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.type, 'urn:bowline:error:revision_not_found');
    assert.equal((await api('POST', '/v1/policies/nope/revisions/1:replay', window)).status, 404);
    const invalid = await replay(2, { from: 'last week', to: window.from, limit: 0, colour: 'red' });
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.body.errors.map((e: any) => e.path).sort(), ['colour', 'from', 'limit']);
    const viewer = (await api('POST', '/v1/tokens', { name: 'reader', role: 'viewer' })).body.token;
    const denied = await api('POST', '/v1/policies/shop-authz/revisions/2:replay', window, viewer);
    assert.equal(denied.status, 403);
    assert.equal((await api('POST', '/v1/policies/shop-authz/revisions/1:activate')).status, 200);
  });

  it('drops and counts decisions when the buffer is full, and retries writes until the database takes them', async () => {
    const small = await ServiceProcess.spawn('policy', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      POLICY_DECISION_LOG_BUFFER: '2',
      POLICY_DECISION_LOG_FLUSH: '100ms',
    });
    try {
      await small.waitFor('/readyz');
      await db.query(`ALTER TABLE policy_decision_logs RENAME TO policy_decision_logs_away`);
      try {
        for (const id of ['b-1', 'b-2', 'b-3']) await ask(small, [id, FRONTEND, 'GET', '/api/products/1']);
        await until('a failed write', async () =>
          /^bowline_policy_decision_log_flush_failures_total [1-9]/m.test(await metrics(small)) ? true : undefined,
        );
      } finally {
        await db.query(`ALTER TABLE policy_decision_logs_away RENAME TO policy_decision_logs`);
      }
      const stored = await until('the retried write', async () => {
        const rows = await db.query<{ request_id: string }>(
          `SELECT request_id FROM policy_decision_logs WHERE request_id LIKE 'b-%'`,
        );
        return rows.length === 2 ? rows : undefined;
      });
      assert.equal(stored.length, 2);
      assert.match(await metrics(small), /^bowline_policy_decision_logs_dropped_total\{reason="buffer_full"\} 1$/m);
    } finally {
      await small.stop();
    }
  });

  it('writes what is still buffered when it shuts down', async () => {
    const slow = await ServiceProcess.spawn('policy', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      POLICY_DECISION_LOG_FLUSH: '1h',
    });
    const logged = () => db.query(`SELECT 1 FROM policy_decision_logs WHERE request_id = 'last-words'`);
    try {
      await slow.waitFor('/readyz');
      await ask(slow, ['last-words', FRONTEND, 'GET', '/api/products/1']);
      assert.equal((await logged()).length, 0);
    } finally {
      assert.equal((await slow.stop()).code, 0);
    }
    assert.equal((await logged()).length, 1);
  });
});
