import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { ENVOY_EXT_AUTHZ_PACKAGE } from '#libs/proto';
import { adminCall, createTestDatabase, ServiceProcess, type TestDatabase, until } from '#libs/testing';
import { ADMIN_SA, FRONTEND, OPEN, STRANGER } from './policy-decision-fixtures';

const ADMIN = 'decision-logs-e2e-admin-token-0123456789';
const PRODUCTS = 'spiffe://cluster.local/ns/shop/sa/products';
const MASK = '/attributes/request/http/headers/x-api-key,/parsed_body/password';

/** An OPA decision log entry as a proxy ships it, for request `i` of the ingested history. */
function entry(i: number, at: number, principal: string, method: string, path: string, result?: unknown) {
  return {
    decision_id: `ingested-${i}`,
    timestamp: new Date(at + i * 60_000).toISOString(),
    path: 'envoy/authz/allow',
    input: {
      attributes: {
        source: { principal },
        destination: { principal: PRODUCTS },
        request: {
          http: {
            id: `envoy-${i}`,
            method,
            path,
            host: 'products.shop',
            headers: { 'x-request-id': `rid-${i}`, Cookie: `sid=secret-${i}` },
          },
        },
      },
    },
    ...(result === undefined ? {} : { result }),
    requested_by: '10.0.0.7:5000',
    metrics: { timer_rego_query_eval_ns: 12_000 },
    labels: { id: 'proxy-1', version: '0.1.0' },
    bundles: { 'proxy-authz': { revision: '4' } },
  };
}

describe('Policy: decision logs (recording, masking, ingestion, queries, retention)', () => {
  let db: TestDatabase;
  let policy: ServiceProcess;
  let viewer: string;
  const history = Math.floor((Date.now() - 2 * 3_600_000) / 60_000) * 60_000;

  const api = (method: string, path: string, body?: unknown, token = ADMIN) =>
    adminCall(policy.adminUrl, token, method, path, body);
  const query = async (params: Record<string, string | number>, token = ADMIN) => {
    const answer = await api(
      'GET',
      `/v1/decision-logs?${new URLSearchParams(params as Record<string, string>)}`,
      undefined,
      token,
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body as { items: any[]; nextCursor: string | null };
  };
  const window = { from: new Date(history).toISOString(), to: new Date(history + 3_600_000).toISOString() };
  const ids = (page: { items: any[] }) => page.items.map((item) => item.decisionId);

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    policy = await ServiceProcess.spawn('policy', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      POLICY_DECISION_LOG_FLUSH: '100ms',
      POLICY_DECISION_LOG_MASK: MASK,
      POLICY_DECISION_LOG_RETENTION: '1d',
      POLICY_DECISION_LOG_PRUNE_INTERVAL: '200ms',
    });
    await policy.waitFor('/readyz');
    const created = await api('POST', '/v1/policies', {
      name: 'envoy-authz',
      modules: { 'a.rego': OPEN },
      activate: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    viewer = (await api('POST', '/v1/tokens', { name: 'dashboards', role: 'viewer' })).body.token;
  });
  after(async () => {
    await policy?.stop();
    await db?.drop();
  });

  it('logs /v1/authz/check and ext_authz decisions with secret headers and configured pointers masked', async () => {
    const checked = await api('POST', '/v1/authz/check', {
      request: {
        source: FRONTEND,
        destination: PRODUCTS,
        method: 'POST',
        path: '/api/login',
        headers: {
          Authorization: 'Bearer top-secret',
          Cookie: 'sid=cookie-secret',
          'x-api-key': 'key-secret',
          'x-request-id': 'what-if-1',
          'content-type': 'application/json',
        },
        body: '{"user": "alice", "password": "hunter2"}',
      },
    });
    assert.equal(checked.status, 200, JSON.stringify(checked.body));
    assert.equal(checked.body.allowed, true);

    const definition = loadSync(ENVOY_EXT_AUTHZ_PACKAGE.protoPath, {
      ...PROTO_LOADER_OPTIONS,
      includeDirs: ENVOY_EXT_AUTHZ_PACKAGE.includeDirs,
    });
    const pkg = loadPackageDefinition(definition) as any;
    const client = new pkg.envoy.service.auth.v3.Authorization(policy.grpcAddress, credentials.createInsecure());
    const http = {
      id: 'envoy-id',
      method: 'DELETE',
      path: '/api/products/1',
      host: 'products.shop',
      headers: { 'proxy-authorization': 'Basic c2VjcmV0', 'x-request-id': 'grpc-1', ':path': '/api/products/1' },
    };
    const response: any = await new Promise((resolve, reject) =>
      client.Check(
        { attributes: { source: { principal: STRANGER }, request: { http } } },
        (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r)),
      ),
    );
    client.close();
    assert.equal(response.status.code, 7);

    const whatIf = await until('the what-if decision', async () => (await query({ requestId: 'what-if-1' })).items[0]);
    assert.equal(whatIf.reporter, 'policy-service');
    assert.equal(whatIf.requestedBy, 'authz-check');
    assert.equal(whatIf.policy, 'envoy-authz');
    assert.equal(whatIf.revision, 1);
    assert.equal(whatIf.allowed, true);
    assert.equal(whatIf.principal, FRONTEND);
    assert.equal(whatIf.destination, PRODUCTS);
    assert.deepEqual([whatIf.method, whatIf.path], ['POST', '/api/login']);
    const headers = whatIf.input.attributes.request.http.headers;
    assert.equal(headers.authorization, '[masked]');
    assert.equal(headers.cookie, '[masked]');
    assert.equal(headers['x-api-key'], '[masked]');
    assert.equal(headers['content-type'], 'application/json');
    assert.deepEqual(whatIf.input.parsed_body, { user: 'alice', password: '[masked]' });
    assert.equal(typeof whatIf.evalDurationMicros, 'number');

    const grpc = await until('the ext_authz decision', async () => (await query({ requestId: 'grpc-1' })).items[0]);
    assert.equal(grpc.requestedBy, 'ext_authz');
    assert.equal(grpc.allowed, false);
    assert.equal(grpc.principal, STRANGER);
    assert.equal(grpc.input.attributes.request.http.headers['proxy-authorization'], '[masked]');

    const [stored] = await db.query<{ text: string }>(
      `SELECT string_agg(input::text, ' ') AS text FROM policy_decision_logs`,
    );
    for (const secret of ['top-secret', 'cookie-secret', 'key-secret', 'hunter2', 'c2VjcmV0']) {
      assert.ok(!stored.text.includes(secret), `${secret} reached the database`);
    }
    const metrics = await (
      await fetch(`${policy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).text();
    assert.match(metrics, /^bowline_policy_decisions_total\{result="allow",policy="envoy-authz"\} [1-9]/m);
    assert.match(metrics, /^bowline_policy_decisions_total\{result="deny",policy="envoy-authz"\} [1-9]/m);
    assert.match(metrics, /^bowline_policy_decision_logs_stored_total\{source="recorded"\} [1-9]/m);
  });

  it('refuses a batch with a bad entry, naming its index, and stores nothing of it', async () => {
    const good = entry(0, history, FRONTEND, 'GET', '/api/products/1', true);
    const refused = await api('POST', '/v1/decision-logs', {
      decisions: [good, { ...good, decision_id: 'x', timestamp: 'yesterday' }, { ...good, http_status: 42, extra: 1 }],
    });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.errors.map((e: any) => e.path).sort(), [
      'decisions[1].timestamp',
      'decisions[2].extra',
      'decisions[2].http_status',
    ]);
    assert.equal((await api('POST', '/v1/decision-logs', { decisions: [] })).status, 400);
    assert.equal((await api('POST', '/v1/decision-logs', { decisions: [good] }, viewer)).status, 403);
    assert.equal((await query({ ...window })).items.length, 0);
  });

  it('stores a batch from a proxy once, masked, with policy and revision from its bundle', async () => {
    const batch = [
      entry(0, history, FRONTEND, 'GET', '/api/products/1', true),
      entry(1, history, FRONTEND, 'POST', '/api/products', {
        allowed: true,
        headers: { authorization: 'Bearer internal' },
      }),
      entry(2, history, STRANGER, 'GET', '/api/products/1', false),
      entry(3, history, FRONTEND, 'DELETE', '/api/orders/7', { allowed: false, http_status: 418 }),
      entry(4, history, ADMIN_SA, 'GET', '/api/orders/7', true),
      entry(5, history, STRANGER, 'GET', '/api/products/2'),
    ];
    const stored = await api('POST', '/v1/decision-logs', { decisions: batch });
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
    assert.deepEqual(stored.body, { received: 6, stored: 6 });
    assert.deepEqual((await api('POST', '/v1/decision-logs', { decisions: batch })).body, { received: 6, stored: 0 });

    const [teapot] = (await query({ requestId: 'rid-3' })).items;
    assert.equal(teapot.decisionId, 'ingested-3');
    assert.deepEqual(
      [teapot.allowed, teapot.httpStatus, teapot.policy, teapot.revision],
      [false, 418, 'proxy-authz', 4],
    );
    assert.deepEqual(
      [teapot.reporter, teapot.requestedBy, teapot.evalDurationMicros],
      ['proxy-1', '10.0.0.7:5000', 12],
    );
    assert.equal(teapot.timestamp, new Date(history + 3 * 60_000).toISOString());
    assert.equal(teapot.input.attributes.request.http.headers.Cookie, '[masked]');
    const [internal] = (await query({ requestId: 'rid-1' })).items;
    assert.deepEqual(internal.result.headers, { authorization: '[masked]' });
    const [undecided] = (await query({ requestId: 'rid-5' })).items;
    assert.equal(undecided.allowed, false);
    assert.match(undecided.reason, /undefined/);
    const one = await api('GET', `/v1/decision-logs/${undecided.id}`, undefined, viewer);
    assert.equal(one.status, 200);
    assert.equal(one.body.decisionId, 'ingested-5');
    assert.equal((await api('GET', '/v1/decision-logs/999999')).status, 404);
  });

  it('filters by principal, path, decision, request id and time, newest first, and pages with a cursor', async () => {
    assert.deepEqual(ids(await query({ ...window, principal: FRONTEND }, viewer)), [
      'ingested-3',
      'ingested-1',
      'ingested-0',
    ]);
    assert.deepEqual(ids(await query({ ...window, path: '/api/products/1' })), ['ingested-2', 'ingested-0']);
    assert.deepEqual(ids(await query({ ...window, path: '/api/orders/*' })), ['ingested-4', 'ingested-3']);
    assert.deepEqual(ids(await query({ ...window, decision: 'deny' })), ['ingested-5', 'ingested-3', 'ingested-2']);
    assert.deepEqual(
      ids(await query({ policy: 'proxy-authz', revision: 4, decision: 'allow', destination: PRODUCTS })),
      ['ingested-4', 'ingested-1', 'ingested-0'],
    );
    const range = {
      from: new Date(history + 2 * 60_000).toISOString(),
      to: new Date(history + 4 * 60_000).toISOString(),
    };
    assert.deepEqual(ids(await query(range)), ['ingested-3', 'ingested-2']);

    const first = await query({ ...window, limit: 4 });
    assert.deepEqual(ids(first), ['ingested-5', 'ingested-4', 'ingested-3', 'ingested-2']);
    assert.ok(first.nextCursor);
    const second = await query({ ...window, limit: 4, cursor: first.nextCursor });
    assert.deepEqual(ids(second), ['ingested-1', 'ingested-0']);
    assert.equal(second.nextCursor, null);

    const invalid = await api('GET', '/v1/decision-logs?from=yesterday&decision=maybe&limit=0&cursor=x&colour=red');
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.body.errors.map((e: any) => e.path).sort(), [
      'colour',
      'cursor',
      'decision',
      'from',
      'limit',
    ]);
  });

  it('prunes decisions older than the retention', async () => {
    await db.query(
      `INSERT INTO policy_decision_logs (decision_id, decided_at, allowed, input, reporter)
       VALUES ('ancient', now() - interval '3 days', true, '{}', 'test'), ('recent', now() - interval '1 hour', true, '{}', 'test')`,
    );
    await until('the old decision to be pruned', async () => {
      const rows = await db.query(`SELECT 1 FROM policy_decision_logs WHERE decision_id = 'ancient'`);
      return rows.length === 0 ? true : undefined;
    });
    assert.equal((await db.query(`SELECT 1 FROM policy_decision_logs WHERE decision_id = 'recent'`)).length, 1);
    const metrics = await (
      await fetch(`${policy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).text();
    assert.match(metrics, /^bowline_policy_decision_logs_pruned_total [1-9]/m);
  });
});
