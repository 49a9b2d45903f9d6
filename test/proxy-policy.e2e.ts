import assert from 'node:assert/strict';
import { Agent, request, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import {
  adminCall,
  createTestDatabase,
  fetchTrustBundle,
  freePort,
  newKek,
  ServiceProcess,
  type TestDatabase,
  until,
  useCitadelTls,
} from '#libs/testing';
import { galleyClient } from './galley-fixtures';
import { curl, echoApp, eventually, listen } from './proxy-fixtures';

const ADMIN = 'proxy-policy-e2e-admin-token-0123456789ab';
const PROXY_ADMIN = 'proxy-policy-e2e-sidecar-admin-token-01234';
const SPIFFE = (sa: string) => `spiffe://cluster.local/ns/default/sa/${sa}`;
const proxyAuth = { authorization: `Bearer ${PROXY_ADMIN}` };

/** Istio's pattern: only the client service account, only GET (nothing under /forbidden/), on the server workload. */
const SERVER_GET_FROM_CLIENT = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: server-get, namespace: default}
spec:
  selector:
    matchLabels: {app: server}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/client"]
    to:
    - operation:
        methods: ["GET"]
        notPaths: ["/forbidden/*"]
`;

interface Sidecar {
  readonly process: ServiceProcess;
  readonly outbound: number;
  readonly admin: string;
}

/**
 * In-proxy authorization end to end: an AuthorizationPolicy applied through Galley reaches the
 * policy service, which serves it compiled (wasm) to the server's sidecar; the sidecar enforces
 * it in process, logs decisions back, and keeps enforcing with the last good bundle once the
 * policy service is gone. A sidecar that never got a bundle fails closed.
 */
describe('AuthorizationPolicy enforced in the proxy, from a policy-service bundle', () => {
  let db: TestDatabase;
  let citadel: ServiceProcess;
  let galley: ServiceProcess;
  let pilot: ServiceProcess;
  let policy: ServiceProcess;
  let rootsFile: string;
  let proxyToken: string;
  const apps: Server[] = [];
  const sidecars: Sidecar[] = [];
  let client: Sidecar;
  let other: Sidecar;
  let server: Sidecar;

  async function joinToken(serviceAccount: string): Promise<string> {
    const minted = await adminCall(citadel.adminUrl, ADMIN, 'POST', '/v1/join-tokens', {
      namespace: 'default',
      serviceAccount,
      maxUses: 5,
    });
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    return minted.body.token as string;
  }

  async function startSidecar(params: {
    serviceAccount: string;
    service?: string;
    appPort?: number;
    policyUrl?: string;
    /** The Rego policy it enforces too (PROXY_POLICY_NAME). */
    policyName?: string;
    /** The /ready answer to wait for: 200, or 503 for a sidecar that must stay unready (no bundle). */
    ready?: 200 | 503;
  }): Promise<Sidecar> {
    const proxy = await ServiceProcess.spawn('proxy', {
      PROXY_INBOUND_PORT: String(await freePort()),
      PROXY_ADMIN_TOKEN: PROXY_ADMIN,
      BOWLINE_LOG_LEVEL: process.env.PROXY_E2E_LOGS ? 'debug' : 'info',
      PROXY_CA_ROOTS_FILE: rootsFile,
      PROXY_CITADEL_ADDRESS: citadel.grpcAddress,
      PROXY_PILOT_ADDRESS: pilot.grpcAddress,
      PROXY_SERVICE_ACCOUNT: params.serviceAccount,
      BOWLINE_JOIN_TOKEN: await joinToken(params.serviceAccount),
      PROXY_CERT_TTL: '1h',
      PROXY_LABELS: `app=${params.service ?? params.serviceAccount}`,
      ...(params.service ? { PROXY_SERVICE: params.service, PROXY_SERVICE_PORTS: `8080:${params.appPort}` } : {}),
      ...(params.policyUrl ? { PROXY_POLICY_URL: params.policyUrl, PROXY_POLICY_TOKEN: proxyToken } : {}),
      ...(params.policyName ? { PROXY_POLICY_NAME: params.policyName } : {}),
    });
    const sidecar = { process: proxy, outbound: Number(proxy.grpcAddress.split(':').pop()), admin: proxy.adminUrl };
    sidecars.push(sidecar);
    const expected = params.ready ?? 200;
    await eventually(
      async () => {
        const response = await fetch(`${proxy.adminUrl}/ready`).catch(() => undefined);
        if (expected === 200) return response?.status === 200;
        // Unready for the bundle only: it has its certificate and config.
        const body = response ? ((await response.json()) as { reasons?: string[] }) : undefined;
        return JSON.stringify(body?.reasons) === '["no authorization bundle from the policy service yet"]';
      },
      `${params.serviceAccount} sidecar ${expected === 200 ? 'ready' : 'waiting only for its bundle'}`,
      30_000,
    );
    return sidecar;
  }

  /** `bowline.extra.policy` of a sidecar's /config_dump. */
  async function policyState(sidecar: Sidecar): Promise<{ ready: boolean; bundle: { revision: string | null } }> {
    const dump = (await (await fetch(`${sidecar.admin}/config_dump`, { headers: proxyAuth })).json()) as {
      bowline: { extra: { policy: { ready: boolean; bundle: { revision: string | null } } } };
    };
    return dump.bowline.extra.policy;
  }

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    const base = { DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: ADMIN, BOWLINE_SHUTDOWN_GRACE: '2s' };
    citadel = await ServiceProcess.spawn('citadel', { ...base, BOWLINE_CA_KEK: newKek() });
    galley = await ServiceProcess.spawn('galley', base);
    await Promise.all([citadel.waitFor('/readyz'), galley.waitFor('/readyz')]);
    pilot = await ServiceProcess.spawn('pilot', {
      ...base,
      PILOT_GALLEY_ADDRESS: galley.grpcAddress,
      PILOT_DEBOUNCE: '20ms',
    });
    policy = await ServiceProcess.spawn('policy', {
      ...base,
      POLICY_GALLEY_ADDRESS: galley.grpcAddress,
      POLICY_AUTHZ_DEBOUNCE: '20ms',
      POLICY_DECISION_LOG_FLUSH: '200ms',
    });
    await Promise.all([pilot.waitFor('/readyz'), policy.waitFor('/readyz')]);
    rootsFile = await fetchTrustBundle(citadel, ADMIN);
    await useCitadelTls(citadel, ADMIN);

    // An operator mints the proxies' token on the policy service (operator: bundles and decision logs).
    const minted = await adminCall(policy.adminUrl, ADMIN, 'POST', '/v1/tokens', { name: 'proxies', role: 'operator' });
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    proxyToken = minted.body.token as string;

    const applied = await galleyClient(() => galley, ADMIN).apply(SERVER_GET_FROM_CLIENT);
    assert.equal(applied.status, 200, await applied.clone().text());
    await eventually(
      async () => {
        const status = await adminCall(policy.adminUrl, ADMIN, 'GET', '/v1/bundles/status');
        return status.body.compiled === true && status.body.galleySynced === true;
      },
      'the policy service can serve bundles',
      60_000,
    );

    const app = { server: echoApp('server'), port: 0 };
    const locked = { server: echoApp('locked'), port: 0 };
    app.port = await listen(app.server);
    locked.port = await listen(locked.server);
    apps.push(app.server, locked.server);
    [server, client, other] = await Promise.all([
      startSidecar({ serviceAccount: 'server', service: 'server', appPort: app.port, policyUrl: policy.adminUrl }),
      startSidecar({ serviceAccount: 'client' }),
      startSidecar({ serviceAccount: 'other' }),
      // Its policy service never answers: it must fail closed.
      startSidecar({
        serviceAccount: 'locked',
        service: 'locked',
        appPort: locked.port,
        policyUrl: `http://127.0.0.1:${await freePort()}`,
        ready: 503,
      }),
    ]);
    await eventually(async () => (await policyState(server)).ready, 'the server sidecar loads a first bundle', 30_000);
    await eventually(async () => (await curl(client.outbound, 'server:8080', '/')).status === 200, {
      what: 'the client sidecar routes to the server',
      timeoutMs: 20_000,
    });
  });

  after(async () => {
    if (process.env.PROXY_E2E_LOGS) {
      for (const s of [...sidecars.map((c) => c.process), policy])
        process.stderr.write(`\n===== ${s?.app}\n${s?.logs}`);
    }
    await Promise.all(sidecars.map((s) => s.process.stop()));
    for (const app of apps) app.close();
    await policy?.stop();
    await pilot?.stop();
    await galley?.stop();
    await citadel?.stop();
    await db?.drop();
  });

  it('serves the bundle with an ETag; If-None-Match answers 304', async () => {
    const url = `${policy.adminUrl}/v1/bundles/authz?namespace=default`;
    const auth = { authorization: `Bearer ${proxyToken}` };
    const first = await fetch(url, { headers: auth });
    assert.equal(first.status, 200);
    const bundle = (await first.json()) as {
      format: string;
      revision: string;
      labels: unknown;
      istio: { policies: string[]; attributes: string[]; matchers: { attributes: Record<string, unknown> } };
    };
    assert.equal(first.headers.get('etag'), `"${bundle.revision}"`);
    // The tests the module applies, by value: what the sidecar keys kept decisions by.
    assert.deepEqual(bundle.istio.matchers.attributes['request.method'], [{ kind: 'exact', value: 'GET' }]);
    assert.equal(bundle.format, 'bowline.authz-bundle/v3');
    assert.deepEqual(bundle.istio.policies, ['default/server-get']);
    // The namespace's module checks each policy's selector, so its input carries the labels.
    assert.equal(bundle.labels, null);
    assert.ok(bundle.istio.attributes.includes('destination.labels'), bundle.istio.attributes.join());
    const again = await fetch(`${url}&wait=100ms`, { headers: { ...auth, 'if-none-match': `"${bundle.revision}"` } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(url)).status, 401, 'a token is required');

    // With a Rego policy: its active revision, and the parts of the input its decision can depend on.
    const rego = 'package envoy.authz\n\nallow if input.attributes.request.http.headers["x-token"] == "secret"\n';
    const created = await adminCall(policy.adminUrl, ADMIN, 'POST', '/v1/policies', {
      name: 'token-check',
      modules: { 'authz.rego': rego },
      activate: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const withRego = await fetch(`${url}&policy=token-check`, { headers: auth });
    assert.equal(withRego.status, 200);
    const { policy: part } = (await withRego.json()) as { policy: { revision: number; inputPaths: string[][] } };
    assert.equal(part.revision, 1);
    assert.deepEqual(part.inputPaths, [['attributes', 'request', 'http', 'headers', 'x-token']]);
  });

  it('compiles only the policies selecting the workload when the proxy sends its labels; 400 for bad labels', async () => {
    const auth = { authorization: `Bearer ${proxyToken}` };
    const policies = async (labels: string) => {
      const response = await fetch(`${policy.adminUrl}/v1/bundles/authz?namespace=default&labels=${labels}`, {
        headers: auth,
      });
      assert.equal(response.status, 200);
      const bundle = (await response.json()) as {
        labels: Record<string, string>;
        istio: { policies: string[]; attributes: string[] };
      };
      // Made for these labels: the module checks no selector and reads no destination labels.
      assert.deepEqual(bundle.labels, Object.fromEntries(labels.split(',').map((pair) => pair.split('='))));
      assert.ok(!bundle.istio.attributes.includes('destination.labels'), bundle.istio.attributes.join());
      return bundle.istio.policies;
    };
    assert.deepEqual(await policies('app=server,version=v1'), ['default/server-get']);
    assert.deepEqual(await policies('app=other'), []);
    const bad = await fetch(`${policy.adminUrl}/v1/bundles/authz?namespace=default&labels=app`, { headers: auth });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type')?.split(';')[0], 'application/problem+json');
    const problem = (await bad.json()) as { detail: string; errors: { path: string; message: string }[] };
    assert.equal(problem.detail, 'invalid bundle request: labels: "app" is not key=value');
    assert.deepEqual(problem.errors, [{ path: 'labels', message: '"app" is not key=value' }]);
    // The server sidecar asks with its labels (PROXY_LABELS app=server).
    const dump = (await (await fetch(`${server.admin}/config_dump`, { headers: proxyAuth })).json()) as {
      bowline: { extra: { policy: { bundle: { labels: string | null } } } };
    };
    assert.equal(dump.bowline.extra.policy.bundle.labels, 'app=server');
  });

  it('lets the client GET, denies its POST (403, UAEX) and any other identity', async () => {
    assert.equal((await curl(client.outbound, 'server:8080', '/items')).status, 200);
    const post = await curl(client.outbound, 'server:8080', '/items', ['-X', 'POST']);
    assert.equal(post.status, 403);
    assert.match(post.body, /RBAC: access denied/);
    await eventually(
      () => /"response_flags":"UAEX"/.test(server.process.logs),
      'a UAEX access-log line on the server sidecar',
    );
    assert.equal((await curl(other.outbound, 'server:8080', '/items')).status, 403);
    // The server sidecar's metrics: decisions by result, their time, and the bundle in force.
    const metrics = await (await fetch(`${server.admin}/stats/prometheus`, { headers: proxyAuth })).text();
    const value = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? NaN);
    assert.ok(value(/^bowline_proxy_authorization_decisions_total\{result="allowed"\} (\d+)$/m) >= 1, metrics);
    assert.ok(value(/^bowline_proxy_authorization_decisions_total\{result="denied"\} (\d+)$/m) >= 2, metrics);
    assert.ok(value(/^bowline_proxy_authorization_duration_seconds_count (\d+)$/m) >= 3, metrics);
    const dump = (await (await fetch(`${server.admin}/config_dump`, { headers: proxyAuth })).json()) as {
      bowline: { extra: { policy: { enforcing: { revision: string } } } };
    };
    assert.match(
      metrics,
      new RegExp(
        `^bowline_proxy_authorization_bundle_info\\{revision="${dump.bowline.extra.policy.enforcing.revision}"\\} 1$`,
        'm',
      ),
    );
  });

  it('keeps one decision for requests the policies cannot tell apart (paths outside /forbidden/)', async () => {
    const hits = async () => {
      const dump = (await (await fetch(`${server.admin}/config_dump`, { headers: proxyAuth })).json()) as {
        bowline: { extra: { policy: { enforcing: { decisionCache: { hits: number } } } } };
      };
      return dump.bowline.extra.policy.enforcing.decisionCache.hits;
    };
    const before = await hits();
    for (const path of ['/kept/1', '/kept/2?x=1', '/kept/3', '/kept/4']) {
      assert.equal((await curl(client.outbound, 'server:8080', path)).status, 200);
    }
    // Every path passes the same test (not under /forbidden/): one key, kept from its second
    // sighting, so at least the last two are hits whatever came before.
    assert.ok((await hits()) - before >= 2);
    assert.equal((await curl(client.outbound, 'server:8080', '/forbidden/1')).status, 403);
    assert.equal((await curl(client.outbound, 'server:8080', '/forbidden/1')).status, 403, 'kept or not');
  });

  it('fails closed on a sidecar that never loaded a bundle', async () => {
    const reply = await curl(client.outbound, 'locked:8080', '/');
    assert.equal(reply.status, 403);
    assert.match(reply.body, /no authorization bundle/);
  });

  it('sends the decisions to the policy service, where they can be queried', async () => {
    await curl(client.outbound, 'server:8080', '/logged', ['-X', 'POST']);
    const found = await until(
      'the denied POST in the decision logs',
      async () => {
        const query = `/v1/decision-logs?principal=${encodeURIComponent(SPIFFE('client'))}&decision=deny`;
        const page = await adminCall(policy.adminUrl, ADMIN, 'GET', query);
        const items = page.body.items as { path: string; method: string; httpStatus: number; reporter: string }[];
        return items.find((item) => item.path === '/logged');
      },
      15_000,
    );
    assert.equal(found.method, 'POST');
    assert.equal(found.httpStatus, 403);
    assert.equal(found.reporter, 'proxy:server.default');
  });

  it('enforces a Rego policy in a real sidecar, keeping its decisions by the parts of the input it reads', async () => {
    // opa-envoy's alias of the request: the policy reads the x-token header alone.
    const rego = [
      'package envoy.authz',
      '',
      'http_request := input.attributes.request.http',
      '',
      'default allow := {"allowed": false, "http_status": 401, "body": "token required"}',
      '',
      'allow := {"allowed": true, "headers": {"x-checked": "rego"}} if http_request.headers["x-token"] == "secret"',
      '',
    ].join('\n');
    const created = await adminCall(policy.adminUrl, ADMIN, 'POST', '/v1/policies', {
      name: 'sidecar-token',
      modules: { 'authz.rego': rego },
      activate: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.revision.inputPaths, [['attributes', 'request', 'http', 'headers', 'x-token']]);
    const app = echoApp('guarded');
    apps.push(app);
    // No AuthorizationPolicy selects app=guarded (Istio: allowed), so the Rego policy decides.
    const guarded = await startSidecar({
      serviceAccount: 'guarded',
      service: 'guarded',
      appPort: await listen(app),
      policyUrl: policy.adminUrl,
      policyName: 'sidecar-token',
    });
    await eventually(async () => (await curl(client.outbound, 'guarded:8080', '/')).status !== 503, {
      what: 'the client sidecar routes to the guarded service',
      timeoutMs: 20_000,
    });
    const cache = async () => {
      const dump = (await (await fetch(`${guarded.admin}/config_dump`, { headers: proxyAuth })).json()) as {
        bowline: { extra: { policy: { enforcing: { policyDecisionCache: { hits: number } | null } } } };
      };
      return dump.bowline.extra.policy.enforcing.policyDecisionCache;
    };
    const before = (await cache())!.hits;
    // Every request has its own id, path and time: none of them is a part the policy reads.
    for (const n of [1, 2, 3, 4]) {
      const ok = await curl(client.outbound, 'guarded:8080', `/items/${n}`, ['-H', 'x-token: secret']);
      assert.equal(ok.status, 200, ok.body);
      assert.equal((JSON.parse(ok.body) as { headers: Record<string, string> }).headers['x-checked'], 'rego');
    }
    assert.ok((await cache())!.hits - before >= 2, 'kept from the second sighting of its parts');
    for (const token of [[], ['-H', 'x-token: wrong'], []]) {
      const denied = await curl(client.outbound, 'guarded:8080', '/items/1', token);
      assert.deepEqual([denied.status, denied.body.trim()], [401, 'token required'], 'kept or not');
    }
  });

  it('activates a new Rego revision under steady load: no failed request, each decided by one revision, never back', async () => {
    // Revision 1 lets /a through, revision 2 /b; each names itself in its header upstream and its denial body.
    const revision = (n: number, allowed: string) =>
      [
        'package envoy.authz',
        '',
        `default allow := {"allowed": false, "http_status": 403, "body": "revision ${n} denies"}`,
        '',
        `allow := {"allowed": true, "headers": {"x-revision": "${n}"}} if startswith(input.parsed_path[0], "${allowed}")`,
        '',
      ].join('\n');
    const created = await adminCall(policy.adminUrl, ADMIN, 'POST', '/v1/policies', {
      name: 'sidecar-switch',
      modules: { 'authz.rego': revision(1, 'a') },
      activate: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const drafted = await adminCall(policy.adminUrl, ADMIN, 'POST', '/v1/policies/sidecar-switch/revisions', {
      modules: { 'authz.rego': revision(2, 'b') },
    });
    assert.equal(drafted.status, 201, JSON.stringify(drafted.body));
    const app = echoApp('switch');
    apps.push(app);
    const sidecar = await startSidecar({
      serviceAccount: 'switch',
      service: 'switch',
      appPort: await listen(app),
      policyUrl: policy.adminUrl,
      policyName: 'sidecar-switch',
    });
    await eventually(async () => (await curl(client.outbound, 'switch:8080', '/a')).status === 200, {
      what: 'the client sidecar routes to the switch service under revision 1',
      timeoutMs: 20_000,
    });
    const enforced = async () => {
      const dump = (await (await fetch(`${sidecar.admin}/config_dump`, { headers: proxyAuth })).json()) as {
        bowline: { extra: { policy: { enforcing: { policy: { revision: number } | null } } } };
      };
      return dump.bowline.extra.policy.enforcing.policy?.revision;
    };
    assert.equal(await enforced(), 1);

    // Steady load through the client sidecar: 6 keep-alive callers, /a and /b in turn, until told to stop.
    interface Call {
      path: string;
      started: number;
      ended: number;
      status: number;
      revision?: number;
      problem?: string;
    }
    const calls: Call[] = [];
    const agent = new Agent({ keepAlive: true, maxSockets: 6 });
    let stopping = false;
    const call = (path: string) =>
      new Promise<Call>((resolve) => {
        const started = performance.now();
        const done = (status: number, body: string) => {
          const c: Call = { path, started, ended: performance.now(), status };
          try {
            const which = path.startsWith('/a') ? 'a' : 'b';
            if (status === 200)
              c.revision = Number((JSON.parse(body) as { headers: Record<string, string> }).headers['x-revision']);
            else if (status === 403) c.revision = Number(/^revision (\d) denies$/.exec(body.trim())?.[1]);
            const allowedBy = c.revision === 1 ? 'a' : 'b';
            if (!(c.revision === 1 || c.revision === 2)) c.problem = `no revision in ${status} ${body.slice(0, 200)}`;
            else if ((status === 200) !== (which === allowedBy))
              c.problem = `revision ${c.revision} answered ${status}`;
          } catch (error) {
            c.problem = `${status} ${String(error)}`;
          }
          resolve(c);
        };
        const req = request(
          { host: '127.0.0.1', port: client.outbound, path, agent, headers: { host: 'switch:8080' } },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => done(res.statusCode ?? 0, body));
            res.on('error', (error) => done(0, String(error)));
          },
        );
        req.on('error', (error) => done(0, String(error)));
        req.end();
      });
    const caller = async (id: number) => {
      for (let n = 0; !stopping; n++) calls.push(await call(`/${n % 2 === 0 ? 'a' : 'b'}/${id}-${n % 8}`));
    };
    const callers = Array.from({ length: 6 }, (_, id) => caller(id));
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      const activated = await adminCall(
        policy.adminUrl,
        ADMIN,
        'POST',
        '/v1/policies/sidecar-switch/revisions/2:activate',
      );
      assert.equal(activated.status, 200, JSON.stringify(activated.body));
      await eventually(async () => (await enforced()) === 2, 'the sidecar enforces revision 2', 20_000);
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      stopping = true;
      await Promise.all(callers);
      agent.destroy();
    }

    const problems = calls.filter((c) => c.problem !== undefined);
    assert.deepEqual(
      problems.slice(0, 5),
      [],
      `${problems.length} of ${calls.length} calls failed or were decided wrongly`,
    );
    const byRevision = [1, 2].map((r) => calls.filter((c) => c.revision === r));
    assert.ok(
      byRevision[0].length >= 20 && byRevision[1].length >= 20,
      `calls by revision: ${byRevision.map((c) => c.length)}`,
    );
    // Atomic and for good: no call decided by revision 1 started after one decided by revision 2 had ended.
    const firstNew = Math.min(...byRevision[1].map((c) => c.ended));
    const late = byRevision[0].filter((c) => c.started > firstNew);
    assert.deepEqual(late.slice(0, 3), [], `${late.length} calls went back to revision 1`);
    process.stdout.write(
      `# revision switch under load: ${calls.length} calls, ${byRevision.map((c) => c.length).join(' / ')} by revision 1 / 2, none failed\n`,
    );
  });

  it('picks up an AuthorizationPolicy change through the long poll', async () => {
    const before = (await policyState(server)).bundle.revision;
    const applied = await galleyClient(() => galley, ADMIN).apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-blocked, namespace: default}
spec:
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/blocked*"]
`);
    assert.equal(applied.status, 200, await applied.clone().text());
    const started = Date.now();
    await eventually(
      async () => (await curl(client.outbound, 'server:8080', '/blocked')).status === 403,
      'the DENY policy enforced by the server sidecar',
    );
    process.stdout.write(`# AuthorizationPolicy change enforced in the proxy after ${Date.now() - started} ms\n`);
    assert.notEqual((await policyState(server)).bundle.revision, before);
    assert.equal((await curl(client.outbound, 'server:8080', '/items')).status, 200);
  });

  it('keeps enforcing with the last good bundle when the policy service stops', async () => {
    await policy.stop();
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal((await curl(client.outbound, 'server:8080', '/after')).status, 200);
    assert.equal((await curl(client.outbound, 'server:8080', '/after', ['-X', 'POST'])).status, 403);
    assert.equal((await curl(other.outbound, 'server:8080', '/after')).status, 403);
    assert.equal((await curl(client.outbound, 'server:8080', '/blocked')).status, 403);
    assert.equal((await policyState(server)).ready, true);
  });
});
