import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { credentials, loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { ENVOY_EXT_AUTHZ_PACKAGE } from '#libs/proto';
import { createTestDatabase, json, ServiceProcess, type TestDatabase } from '#libs/testing';

const ADMIN = 'policy-e2e-admin-token-0123456789abcdef';
const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
const ADMIN_SA = 'spiffe://cluster.local/ns/shop/sa/admin';
const STRANGER = 'spiffe://cluster.local/ns/other/sa/stranger';

/** RBAC by SPIFFE principal and path, written for opa-envoy-plugin (its input and decision path). */
const RBAC = `package envoy.authz

default allow := false

request_path := split(input.attributes.request.http.path, "?")[0]

allow if {
	some role in data.bindings[input.attributes.source.principal]
	some grant in data.grants[role]
	grant.method == input.attributes.request.http.method
	glob.match(grant.path, ["/"], request_path)
}
`;
const RBAC_DATA = {
  bindings: { [FRONTEND]: ['reader'], [ADMIN_SA]: ['reader', 'writer'] },
  grants: {
    reader: [{ method: 'GET', path: '/api/products/*' }],
    writer: [{ method: 'POST', path: '/api/products' }],
  },
};
const RBAC_TEST = `package envoy.authz_test

import data.envoy.authz

test_frontend_reads if {
	authz.allow with input as {"attributes": {"source": {"principal": "${FRONTEND}"}, "request": {"http": {"method": "GET", "path": "/api/products/1"}}}}
}

test_frontend_writes if {
	authz.allow with input as {"attributes": {"source": {"principal": "${FRONTEND}"}, "request": {"http": {"method": "POST", "path": "/api/products"}}}}
}
`;

/** Revision 2: an object decision with headers, a custom denial status and body. */
const RBAC_OBJECT = `package envoy.authz

import data.envoy.rbac

allow := {"allowed": true, "headers": {"x-authz-revision": "2"}, "request_headers_to_remove": ["x-debug"]} if rbac.ok
allow := {"allowed": false, "http_status": 418, "body": "no tea for you", "headers": {"x-denied-by": "bowline"}} if not rbac.ok
`;
const RBAC_HELPER = RBAC.replace('package envoy.authz', 'package envoy.rbac')
  .replace('default allow := false\n', 'default ok := false\n')
  .replace('allow if {', 'ok if {');

const JWT_POLICY = `package envoy.jwt

default allow := false

token := t if {
	auth := input.attributes.request.http.headers.authorization
	startswith(auth, "Bearer ")
	t := substring(auth, 7, -1)
}

verified := io.jwt.decode_verify(token, {"cert": data.jwt.public_key, "iss": "https://issuer.test", "aud": "shop"})

allow if {
	verified[0]
	"orders:read" in verified[2].scopes
}
`;

type Check = (request: object) => Promise<any>;

function extAuthzClient(address: string): { check: Check; close: () => void } {
  const definition = loadSync(ENVOY_EXT_AUTHZ_PACKAGE.protoPath, {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: ENVOY_EXT_AUTHZ_PACKAGE.includeDirs,
  });
  const pkg = loadPackageDefinition(definition) as any;
  const Authorization = pkg.envoy.service.auth.v3.Authorization as ServiceClientConstructor;
  const client = new Authorization(address, credentials.createInsecure()) as any;
  return {
    check: (request) =>
      new Promise((resolve, reject) =>
        client.Check(request, (error: Error | null, response: unknown) => (error ? reject(error) : resolve(response))),
      ),
    close: () => client.close(),
  };
}

function checkRequest(principal: string, method: string, path: string, headers: Record<string, string> = {}) {
  return {
    attributes: {
      source: { principal, address: { socket_address: { address: '10.0.0.7', port_value: 43210 } } },
      destination: { principal: 'spiffe://cluster.local/ns/shop/sa/products' },
      request: {
        time: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
        http: {
          id: 'req-1',
          method,
          path,
          host: 'products.shop',
          scheme: 'http',
          headers: { ...headers, ':path': path },
        },
      },
    },
  };
}

function jwt(claims: object, privateKey: Parameters<typeof sign>[2]): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

describe('Policy: Rego policies, what-if and ext_authz', () => {
  let db: TestDatabase;
  let policy: ServiceProcess;
  let grpc: ReturnType<typeof extAuthzClient>;

  const api = async (method: string, path: string, body?: unknown, token = ADMIN) => {
    const response = await fetch(`${policy.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, type: response.headers.get('content-type'), body: await json(response) };
  };
  const whatIf = async (body: object) => {
    const answer = await api('POST', '/v1/authz/check', body);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body;
  };
  const allowedByHttp = async (source: string, method: string, path: string) =>
    (await whatIf({ request: { source, method, path } })).allowed as boolean;
  const allowedByGrpc = async (source: string, method: string, path: string) => {
    const response = await grpc.check(checkRequest(source, method, path));
    return response.status.code === 0;
  };

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    policy = await ServiceProcess.spawn('policy', { DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: ADMIN });
    await policy.waitFor('/readyz');
    grpc = extAuthzClient(policy.grpcAddress);
  });
  after(async () => {
    grpc?.close();
    await policy?.stop();
    await db?.drop();
  });

  it('denies every ext_authz Check with 403 while no policy is active (fail closed)', async () => {
    const response = await grpc.check(checkRequest(FRONTEND, 'GET', '/api/products/1'));
    assert.equal(response.status.code, 7);
    assert.match(response.status.message, /envoy-authz/);
    assert.equal(response.denied_response.status.code, 403);
  });

  it('serves Authorization/Check beside health, listed by reflection', async () => {
    assert.match(await policy.grpcurl('list'), /envoy\.service\.auth\.v3\.Authorization/);
  });

  it('compiles an RBAC policy by SPIFFE principal and path, and allows and denies the right calls', async () => {
    const created = await api('POST', '/v1/policies', {
      name: 'envoy-authz',
      description: 'shop RBAC',
      modules: { 'authz.rego': RBAC },
      data: RBAC_DATA,
      tests: { 'authz_test.rego': RBAC_TEST },
      activate: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.revision.revision, 1);
    assert.equal(created.body.revision.status, 'active');
    assert.deepEqual(created.body.revision.entrypoints, ['envoy/authz/allow']);
    assert.match(created.body.revision.capabilitiesSha256, /^[0-9a-f]{64}$/);
    // What the decision can depend on (found in OPA's plan): proxies keep decisions by these parts alone.
    assert.deepEqual((created.body.revision.inputPaths as string[][]).map((path) => path.join('.')).sort(), [
      'attributes.request.http.method',
      'attributes.request.http.path',
      'attributes.source.principal',
    ]);

    const cases: [string, string, string, boolean][] = [
      [FRONTEND, 'GET', '/api/products/42', true],
      [FRONTEND, 'GET', '/api/products/42?expand=reviews', true],
      [FRONTEND, 'POST', '/api/products', false],
      [FRONTEND, 'GET', '/api/orders/1', false],
      [ADMIN_SA, 'POST', '/api/products', true],
      [STRANGER, 'GET', '/api/products/42', false],
      ['', 'GET', '/api/products/42', false],
    ];
    for (const [source, method, path, expected] of cases) {
      assert.equal(await allowedByHttp(source, method, path), expected, `what-if ${source} ${method} ${path}`);
      assert.equal(await allowedByGrpc(source, method, path), expected, `ext_authz ${source} ${method} ${path}`);
    }
    const denied = await grpc.check(checkRequest(STRANGER, 'GET', '/api/products/42'));
    assert.equal(denied.denied_response.status.code, 403);
  });

  it('explains a decision with the input opa-envoy-plugin would build', async () => {
    const answer = await whatIf({
      request: {
        source: FRONTEND,
        method: 'post',
        path: '/api/items/a%20b?x=1&x=2',
        headers: { 'Content-Type': 'application/json' },
        body: '{"qty": 3}',
      },
    });
    assert.equal(answer.policy, 'envoy-authz');
    assert.equal(answer.revision, 1);
    assert.equal(answer.result, false);
    assert.deepEqual(answer.input.parsed_path, ['api', 'items', 'a b']);
    assert.deepEqual(answer.input.parsed_query, { x: ['1', '2'] });
    assert.deepEqual(answer.input.parsed_body, { qty: 3 });
    assert.equal(answer.input.attributes.request.http.method, 'POST');
    assert.equal(answer.input.bowline.source.serviceAccount, 'frontend');
  });

  it('runs the revision tests with opa test and reports each', async () => {
    const report = await api('POST', '/v1/policies/envoy-authz/revisions/1:test');
    assert.equal(report.status, 200, JSON.stringify(report.body));
    const outcomes = Object.fromEntries(report.body.results.map((r: any) => [r.name, r.outcome]));
    assert.deepEqual(outcomes, { test_frontend_reads: 'pass', test_frontend_writes: 'fail' });
    assert.equal(report.body.passed, 1);
    assert.equal(report.body.failed, 1);
  });

  it('switches decisions when a new revision is activated, and rolls back', async () => {
    const draft = await api('POST', '/v1/policies/envoy-authz/revisions', {
      modules: { 'authz.rego': RBAC_OBJECT, 'rbac.rego': RBAC_HELPER },
      data: RBAC_DATA,
    });
    assert.equal(draft.status, 201, JSON.stringify(draft.body));
    assert.equal(draft.body.revision, 2);
    assert.equal(draft.body.status, 'draft');
    // a draft changes nothing
    let denied = await grpc.check(checkRequest(STRANGER, 'GET', '/api/products/1'));
    assert.equal(denied.denied_response.status.code, 403);

    const activated = await api('POST', '/v1/policies/envoy-authz/revisions/2:activate');
    assert.equal(activated.status, 200, JSON.stringify(activated.body));
    assert.equal(activated.body.status, 'active');
    denied = await grpc.check(checkRequest(STRANGER, 'GET', '/api/products/1'));
    assert.equal(denied.status.code, 7);
    assert.equal(denied.denied_response.status.code, 418);
    assert.equal(denied.denied_response.body, 'no tea for you');
    assert.deepEqual(
      denied.denied_response.headers.map((h: any) => [h.header.key, h.header.value]),
      [['x-denied-by', 'bowline']],
    );
    const ok = await grpc.check(checkRequest(FRONTEND, 'GET', '/api/products/1', { 'x-debug': '1' }));
    assert.equal(ok.status.code, 0);
    assert.deepEqual(
      ok.ok_response.headers.map((h: any) => [h.header.key, h.header.value]),
      [['x-authz-revision', '2']],
    );
    assert.deepEqual(ok.ok_response.headers_to_remove, ['x-debug']);

    const rollback = await api('POST', '/v1/policies/envoy-authz/revisions/1:activate');
    assert.equal(rollback.status, 200);
    denied = await grpc.check(checkRequest(STRANGER, 'GET', '/api/products/1'));
    assert.equal(denied.denied_response.status.code, 403);
    const detail = await api('GET', '/v1/policies/envoy-authz');
    assert.equal(detail.body.activeRevision, 1);
    assert.deepEqual(
      detail.body.revisions.map((r: any) => [r.revision, r.status]),
      [
        [2, 'superseded'],
        [1, 'active'],
      ],
    );
    // what-if can still ask the superseded revision
    const asked = await whatIf({ revision: 2, request: { source: STRANGER, method: 'GET', path: '/api/products/1' } });
    assert.equal(asked.revision, 2);
    assert.equal(asked.decision.httpStatus, 418);
  });

  it('denies when the decision is undefined, over HTTP and ext_authz', async () => {
    const undefinedPolicy = `package envoy.authz\n\nallow if input.attributes.request.http.method == "NEVER"\n`;
    const revision = await api('POST', '/v1/policies/envoy-authz/revisions', {
      modules: { 'authz.rego': undefinedPolicy },
      activate: true,
    });
    assert.equal(revision.status, 201, JSON.stringify(revision.body));
    const answer = await whatIf({ request: { source: ADMIN_SA, method: 'GET', path: '/api/products/1' } });
    assert.equal(answer.allowed, false);
    assert.equal(answer.result, null);
    assert.equal(answer.decision.error.code, 'DECISION_UNDEFINED');
    const response = await grpc.check(checkRequest(ADMIN_SA, 'GET', '/api/products/1'));
    assert.equal(response.status.code, 7);
    assert.match(response.status.message, /undefined/);
    assert.equal((await api('POST', '/v1/policies/envoy-authz/revisions/1:activate')).status, 200);
  });

  it('verifies JWTs signed by a trusted key (io.jwt.decode_verify on the host)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const created = await api('POST', '/v1/policies', {
      name: 'jwt-authz',
      entrypoint: 'envoy/jwt/allow',
      modules: { 'jwt.rego': JWT_POLICY },
      data: { jwt: { public_key: publicKey.export({ type: 'spki', format: 'pem' }) } },
      activate: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'alice', iss: 'https://issuer.test', aud: 'shop', scopes: ['orders:read'], exp: now + 600 };
    const ask = async (token: string) =>
      (
        await whatIf({
          policy: 'jwt-authz',
          request: { method: 'GET', path: '/orders', headers: { Authorization: `Bearer ${token}` } },
        })
      ).allowed;
    assert.equal(await ask(jwt(claims, privateKey)), true);
    assert.equal(await ask(jwt({ ...claims, scopes: ['orders:write'] }, privateKey)), false);
    assert.equal(await ask(jwt({ ...claims, exp: now - 10 }, privateKey)), false, 'expired');
    assert.equal(await ask(jwt({ ...claims, aud: 'elsewhere' }, privateKey)), false, 'wrong audience');
    assert.equal(await ask(jwt(claims, other.privateKey)), false, 'signed by another key');
  });

  it('refuses a parse error with OPA code, file, row and column, and stores nothing', async () => {
    const refused = await api('POST', '/v1/policies', {
      name: 'broken',
      modules: { 'authz.rego': 'package envoy.authz\n\nallow if {\n\tinput.x ==\n' },
    });
    assert.equal(refused.status, 400);
    assert.match(refused.type ?? '', /application\/problem\+json/);
    assert.equal(refused.body.type, 'urn:bowline:error:policy_compile');
    const [problem] = refused.body.errors;
    assert.equal(problem.code, 'rego_parse_error');
    assert.equal(problem.file, 'authz.rego');
    assert.equal(problem.path, 'modules["authz.rego"]');
    assert.equal(typeof problem.row, 'number');
    assert.equal(typeof problem.col, 'number');
    assert.equal((await api('GET', '/v1/policies/broken')).status, 404);
  });

  it('refuses unsupported built-ins (http.send, opa.runtime) at compile time', async () => {
    for (const call of ['http.send({"method": "get", "url": "http://example.com"})', 'opa.runtime()']) {
      const refused = await api('POST', '/v1/policies', {
        name: 'fetcher',
        modules: { 'authz.rego': `package envoy.authz\n\nallow if {\n\tx := ${call}\n\tx.status_code == 200\n}\n` },
      });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      const problem = refused.body.errors[0];
      assert.equal(problem.code, 'rego_type_error');
      assert.match(problem.message, /undefined function (http\.send|opa\.runtime)/);
      assert.equal(problem.row, 4);
    }
    assert.equal((await api('GET', '/v1/policies/fetcher')).status, 404);
  });

  it('refuses an unsafe variable and an invalid request with field paths', async () => {
    const unsafe = await api('POST', '/v1/policies', {
      name: 'unsafe',
      modules: { 'authz.rego': 'package envoy.authz\n\nallow if { y }\n' },
    });
    assert.equal(unsafe.status, 400);
    assert.equal(unsafe.body.errors[0].code, 'rego_unsafe_var_error');
    const invalid = await api('POST', '/v1/policies', {
      name: 'Bad Name',
      modules: { '../escape.rego': 'package x' },
      entrypoint: 'not a path',
    });
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.body.errors.map((e: any) => e.path).sort(), [
      'entrypoint',
      'modules["../escape.rego"]',
      'name',
    ]);
  });

  it('lets a viewer read and ask, but not write', async () => {
    const minted = await api('POST', '/v1/tokens', { name: 'reader', role: 'viewer' });
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    const viewer = minted.body.token as string;
    assert.equal((await api('GET', '/v1/policies', undefined, viewer)).status, 200);
    const asked = await api('POST', '/v1/authz/check', { input: {} }, viewer);
    assert.equal(asked.status, 200);
    assert.equal(asked.body.allowed, false);
    const write = await api('POST', '/v1/policies/envoy-authz/revisions/2:activate', undefined, viewer);
    assert.equal(write.status, 403);
  });
});
