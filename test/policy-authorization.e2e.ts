import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, freePort, json, ServiceProcess, type TestDatabase } from '#libs/testing';
import { galleyClient } from './galley-fixtures';

const ADMIN = 'policy-authz-e2e-admin-token-0123456789ab';
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const DEV = 'spiffe://cluster.local/ns/dev/sa/tester';
const OTHER = 'spiffe://cluster.local/ns/other/sa/stranger';
const GOOGLE_JWT = { principal: 'https://accounts.google.com/alice', claims: { iss: 'https://accounts.google.com' } };
const HTTPBIN = { namespace: 'foo', labels: { app: 'httpbin', version: 'v1' }, port: 8000 };

/** Istio's "allow-nothing": an ALLOW policy without rules, so nothing in `foo` is allowed. */
const ALLOW_NOTHING = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: foo}
spec: {}
`;

/** The first example of Istio's AuthorizationPolicy reference (plus a second rule). */
const HTTPBIN_ALLOW = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: httpbin
  namespace: foo
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/sleep"]
    - source:
        namespaces: ["dev"]
    to:
    - operation:
        methods: ["GET"]
        paths: ["/info*"]
    - operation:
        methods: ["POST"]
        paths: ["/data"]
    when:
    - key: request.auth.claims[iss]
      values: ["https://accounts.google.com"]
  - to:
    - operation:
        methods: ["GET"]
        paths: ["*/status.json"]
`;

/** The reference's DENY example: POST from the dev namespace; and requests from outside foo/default/dev. */
const DENY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-dev-post, namespace: foo}
spec:
  action: DENY
  rules:
  - from:
    - source:
        namespaces: ["dev"]
    to:
    - operation:
        methods: ["POST"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-outsiders, namespace: foo}
spec:
  action: DENY
  rules:
  - from:
    - source:
        notNamespaces: ["foo", "default", "dev"]
`;

const HEADER_ALLOW = (versions: string[]) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: version-header, namespace: foo}
spec:
  selector:
    matchLabels: {app: httpbin}
  action: ALLOW
  rules:
  - when:
    - key: request.headers[version]
      values: ${JSON.stringify(versions)}
`;

/** Mesh-wide (root namespace), dry-run, AUDIT and CUSTOM policies. */
const MESH_DRY_AUDIT_CUSTOM = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: istio-system}
spec:
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/admin*"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-secret-dry-run
  namespace: foo
  annotations:
    istio.io/dry-run: "true"
spec:
  selector:
    matchLabels: {app: httpbin}
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/info/secret"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-data, namespace: foo}
spec:
  action: AUDIT
  rules:
  - to:
    - operation:
        paths: ["/data"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: foo}
spec:
  action: CUSTOM
  provider: {name: my-ext-authz}
  rules:
  - to:
    - operation:
        paths: ["/ext/*"]
`;

/** Conditions Bowline cannot evaluate: they fail closed and are listed in the status. */
const UNSUPPORTED = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mysql-deny, namespace: bar}
spec:
  action: DENY
  rules:
  - when:
    - key: experimental.envoy.filters.network.mysql_proxy[db.table]
      values: ["[update]"]
`;

/** Policy ↔ Galley ↔ OPA: Istio AuthorizationPolicies applied to Galley decide /v1/authorization/check. */
describe('Istio AuthorizationPolicy on the policy engine', () => {
  let db: TestDatabase;
  let galley: ServiceProcess;
  let policy: ServiceProcess;
  let galleyPort: number;
  const api = galleyClient(() => galley, ADMIN);
  const startGalley = async () => {
    galley = await ServiceProcess.spawn('galley', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      GALLEY_GRPC_PORT: String(galleyPort),
    });
    await galley.waitFor('/readyz');
  };
  const policyApi = async (method: string, path: string, body?: unknown) =>
    fetch(policy.adminUrl + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const status = async () => json(await policyApi('GET', '/v1/authorization/status'));
  const check = async (body: object) => {
    const response = await policyApi('POST', '/v1/authorization/check', body);
    assert.equal(response.status, 200, JSON.stringify(await response.clone().json()));
    return json(response);
  };
  const request = (
    principal: string | undefined,
    method: string,
    path: string,
    extra: { headers?: Record<string, string>; auth?: object; destination?: object } = {},
  ) => ({
    source: { ...(principal ? { principal } : {}), ip: '10.1.2.3' },
    destination: extra.destination ?? HTTPBIN,
    request: {
      method,
      path,
      host: 'httpbin.foo',
      headers: extra.headers ?? {},
      ...(extra.auth ? { auth: extra.auth } : {}),
    },
  });
  /** Polls `probe` until `accept` holds (a change travels Galley → watch → debounce → data). */
  const until = async <T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 15_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (accept(value)) return value;
      if (Date.now() > deadline) assert.fail(`timed out; last: ${JSON.stringify(value)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Applies `yaml` through Galley and waits until the policy service decides with it. */
  const apply = async (yaml: string) => {
    const response = await api.apply(yaml);
    assert.equal(response.status, 200, await response.clone().text());
    const report = (await json(response)) as { results: { resourceVersion: number }[] };
    const version = Math.max(...report.results.map((r) => r.resourceVersion));
    await until(status, (s) => s.dataVersion !== null && s.dataVersion >= version);
  };

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    galleyPort = await freePort();
    await startGalley();
    policy = await ServiceProcess.spawn('policy', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      POLICY_GALLEY_ADDRESS: `127.0.0.1:${galleyPort}`,
      POLICY_AUTHZ_DEBOUNCE: '20ms',
    });
    await policy.waitFor('/readyz');
    await until(status, (s) => s.compiledAt !== null && s.dataVersion !== null, 60_000);
  });
  after(async () => {
    await policy?.stop();
    await galley?.stop();
    await db?.drop();
  });

  it('allows everything while no policy applies; allow-nothing (spec: {}) denies everything', async () => {
    const open = await check(request(OTHER, 'GET', '/anything'));
    assert.deepEqual(
      { allowed: open.allowed, reason: open.reason, policy: open.policy },
      { allowed: true, reason: 'no ALLOW policy applies to the workload', policy: null },
    );
    await apply(ALLOW_NOTHING);
    const denied = await until(
      () => check(request(SLEEP, 'GET', '/info')),
      (d) => !d.allowed,
    );
    assert.equal(denied.action, 'DENY');
    assert.equal(denied.reason, 'ALLOW policies apply to the workload but none matched');
    assert.equal(denied.policy, null);
    assert.deepEqual(denied.applicable, ['foo/allow-nothing']);
    // Another namespace is not affected.
    const elsewhere = await check(request(SLEEP, 'GET', '/info', { destination: { namespace: 'baz' } }));
    assert.equal(elsewhere.allowed, true);
  });

  it('ALLOW: principal or namespace, GET /info* or POST /data, with the JWT issuer; names the rule', async () => {
    await apply(HTTPBIN_ALLOW);
    const ok = await check(request(SLEEP, 'GET', '/info/details?x=1', { auth: GOOGLE_JWT }));
    assert.deepEqual(
      { allowed: ok.allowed, action: ok.action, policy: ok.policy, ruleIndex: ok.ruleIndex },
      { allowed: true, action: 'ALLOW', policy: 'foo/httpbin', ruleIndex: 0 },
    );
    assert.equal((await check(request(DEV, 'POST', '/data', { auth: GOOGLE_JWT }))).allowed, true);
    assert.equal((await check(request(SLEEP, 'GET', '/info'))).allowed, false, 'no JWT: the when condition fails');
    assert.equal((await check(request(SLEEP, 'POST', '/info', { auth: GOOGLE_JWT }))).allowed, false);
    assert.equal((await check(request(OTHER, 'GET', '/info', { auth: GOOGLE_JWT }))).allowed, false);
    const suffix = await check(request(undefined, 'GET', '/v2/status.json'));
    assert.deepEqual([suffix.allowed, suffix.policy, suffix.ruleIndex], [true, 'foo/httpbin', 1]);
  });

  it('DENY wins over ALLOW: POST from dev, and notNamespaces', async () => {
    await apply(DENY);
    const post = await check(request(DEV, 'POST', '/data', { auth: GOOGLE_JWT }));
    assert.deepEqual(
      { allowed: post.allowed, reason: post.reason, policy: post.policy, ruleIndex: post.ruleIndex },
      { allowed: false, reason: 'a DENY policy matched', policy: 'foo/deny-dev-post', ruleIndex: 0 },
    );
    const outsider = await check(request(OTHER, 'GET', '/v2/status.json'));
    assert.deepEqual([outsider.allowed, outsider.policy], [false, 'foo/deny-outsiders']);
    // No principal: no namespace, so notNamespaces matches (Istio: plaintext callers are outsiders).
    assert.equal((await check(request(undefined, 'GET', '/v2/status.json'))).policy, 'foo/deny-outsiders');
    assert.equal((await check(request(SLEEP, 'GET', '/v2/status.json'))).allowed, true);
  });

  it('when on request.headers[version], scoped by selector; a change in Galley is reflected', async () => {
    await apply(HEADER_ALLOW(['v1', 'v2']));
    const v2 = await check(request(SLEEP, 'DELETE', '/anything', { headers: { Version: 'v2' } }));
    assert.deepEqual([v2.allowed, v2.policy, v2.ruleIndex], [true, 'foo/version-header', 0]);
    const otherWorkload = { namespace: 'foo', labels: { app: 'ratings' } };
    const notSelected = await check(
      request(SLEEP, 'DELETE', '/anything', { headers: { version: 'v2' }, destination: otherWorkload }),
    );
    assert.equal(notSelected.allowed, false);
    assert.ok(!notSelected.applicable.includes('foo/version-header'));

    await apply(HEADER_ALLOW(['v3']));
    const changed = await until(
      () => check(request(SLEEP, 'DELETE', '/anything', { headers: { version: 'v2' } })),
      (d) => !d.allowed,
    );
    assert.equal(changed.reason, 'ALLOW policies apply to the workload but none matched');
    assert.equal((await check(request(SLEEP, 'DELETE', '/x', { headers: { version: 'v3' } }))).allowed, true);
  });

  it('mesh-wide DENY from the root namespace; dry-run reported, not enforced; AUDIT and CUSTOM marked', async () => {
    await apply(MESH_DRY_AUDIT_CUSTOM);
    const admin = await check(request(SLEEP, 'GET', '/admin/users', { destination: { namespace: 'baz' } }));
    assert.deepEqual([admin.allowed, admin.policy, admin.ruleIndex], [false, 'istio-system/deny-admin', 0]);
    assert.equal((await check(request(SLEEP, 'GET', '/info/admin', { auth: GOOGLE_JWT }))).allowed, true);

    const secret = await check(request(SLEEP, 'GET', '/info/secret', { auth: GOOGLE_JWT }));
    assert.equal(secret.allowed, true, 'dry-run policies do not deny');
    assert.equal(secret.policy, 'foo/httpbin');
    assert.deepEqual(secret.dryRun, [
      { policy: 'foo/deny-secret-dry-run', action: 'DENY', matched: true, ruleIndex: 0 },
    ]);

    const data = await check(request(SLEEP, 'POST', '/data', { auth: GOOGLE_JWT }));
    assert.deepEqual(
      [data.allowed, data.audit, data.auditPolicies],
      [true, true, [{ policy: 'foo/audit-data', ruleIndex: 0 }]],
    );
    assert.equal((await check(request(SLEEP, 'GET', '/info/x', { auth: GOOGLE_JWT }))).audit, false);

    const ext = await check(request(SLEEP, 'GET', '/ext/a'));
    assert.deepEqual(ext.custom, [{ policy: 'foo/ext-authz', ruleIndex: 0 }]);
    const findings = (await status()).findings as { policy: string; path: string }[];
    assert.ok(findings.some((f) => f.policy === 'foo/ext-authz' && f.path === 'spec.action'));
  });

  it('an unsupported condition fails closed (a DENY rule always matches) and is listed in the status', async () => {
    await apply(UNSUPPORTED);
    const denied = await check(request(SLEEP, 'GET', '/', { destination: { namespace: 'bar' } }));
    assert.deepEqual([denied.allowed, denied.policy, denied.ruleIndex], [false, 'bar/mysql-deny', 0]);
    assert.equal(denied.unsupported[0].path, 'spec.rules[0].when[0].key');
    const s = await status();
    const finding = s.findings.find((f: { policy: string }) => f.policy === 'bar/mysql-deny');
    assert.match(finding.message, /not supported/);
    assert.match(finding.effect, /always matches/);
    assert.equal(s.rootNamespace, 'istio-system');
    assert.equal(s.policies, 10);
  });

  it('keeps deciding with the last good set while Galley is down, and follows it again once back', async () => {
    const before = await check(request(SLEEP, 'GET', '/info/x', { auth: GOOGLE_JWT }));
    await galley.stop();
    await until(status, (s) => s.galley.connected === false);
    const during = await check(request(SLEEP, 'GET', '/info/x', { auth: GOOGLE_JWT }));
    assert.deepEqual([during.allowed, during.policy, during.version], [before.allowed, before.policy, before.version]);
    assert.equal((await check(request(OTHER, 'GET', '/v2/status.json'))).policy, 'foo/deny-outsiders');

    await startGalley();
    const response = await api.call('DELETE', '/v1/resources/AuthorizationPolicy/foo/deny-outsiders');
    assert.equal(response.status, 200, await response.text());
    const after = await until(
      () => check(request(OTHER, 'GET', '/v2/status.json')),
      (d) => d.allowed,
      30_000,
    );
    assert.equal(after.policy, 'foo/httpbin');
    assert.equal((await status()).galley.connected, true);

    const metrics = await (await policyApi('GET', '/metrics')).text();
    assert.match(
      metrics,
      /^bowline_policy_authorization_decisions_total\{action="DENY",decided_by="deny_policy"\} [1-9]/m,
    );
    assert.match(metrics, /^bowline_policy_authorization_galley_connected 1$/m);
    assert.match(metrics, /^bowline_policy_authorization_unsupported_findings [1-9]/m);
  });

  it('validates the check body and names the field', async () => {
    const response = await policyApi('POST', '/v1/authorization/check', {
      destination: { labels: { app: 1 } },
      request: { method: 'GET', path: 'no-slash' },
    });
    assert.equal(response.status, 400);
    const problem = await json(response);
    const paths = (problem.errors as { path: string }[]).map((e) => e.path).sort();
    assert.deepEqual(paths, ['destination.labels', 'destination.namespace', 'request.path']);
  });
});
