import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import pino from 'pino';
import { readWasmBundle } from '#libs/policy-runtime';
import { toolPath } from '#libs/testing';
// Test-only: the same module generation and normalisation the policy service puts in bundles.
import { type GeneratedAuthzModule, generateIstioAuthz } from '../../../policy/src/authorization/istio-authz.codegen';
import { ISTIO_AUTHZ_ENTRYPOINT } from '../../../policy/src/authorization/istio-authz.rego';
import { type NormalPolicy, normalisePolicy } from '../../../policy/src/authorization/normalise';
import type { AuthorizationRequest } from '../dataplane/authorization';
import { BUNDLE_FORMAT, BundleFormatError, parseBundle } from './bundle';
import { BundleClient } from './bundle-client';
import {
  type DecisionLogEntry,
  type DecisionRecord,
  DecisionLogShipper,
  maskInput,
  toLogEntry,
} from './decision-log-shipper';
import { requestInput } from './input';
import { NO_BUNDLE_BODY, PolicyAuthorizer } from './policy-authorizer';

const run = promisify(execFile);
const logger = pino({ level: 'silent' });
const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
const OTHER = 'spiffe://cluster.local/ns/default/sa/other';
const SERVER = 'spiffe://cluster.local/ns/default/sa/server';

/** An opa-envoy-plugin policy: allowed with a header for x-token: secret, else 401 with a body. */
const ENVOY_POLICY = `package envoy.authz

default allow := {"allowed": false, "http_status": 401, "body": "who are you?", "headers": {"x-why": "no token"}}

allow := {"allowed": true, "headers": {"x-user": "alice"}} if {
	input.attributes.request.http.headers["x-token"] == "secret"
}
`;

/** `opa build -t wasm` of `rego`, as the policy service compiles it; returns policy.wasm. */
async function compile(rego: string, entrypoint: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'bowline-proxy-policy-'));
  writeFileSync(join(dir, 'policy.rego'), rego);
  const out = join(dir, 'bundle.tar.gz');
  await run(toolPath('opa'), ['build', '-t', 'wasm', '-e', entrypoint, '-o', out, join(dir, 'policy.rego')]);
  return readWasmBundle(readFileSync(out)).wasm;
}

/** Istio's example: ALLOW only the client service account, only GET. */
const ALLOW_CLIENT_GET = normalisePolicy(
  {
    namespace: 'default',
    name: 'server-get',
    annotations: {},
    resourceVersion: 1,
    spec: {
      selector: { matchLabels: { app: 'server' } },
      action: 'ALLOW',
      rules: [
        {
          from: [{ source: { principals: ['cluster.local/ns/default/sa/client'] } }],
          to: [{ operation: { methods: ['GET'] } }],
        },
      ],
    },
  },
  'istio-system',
).policy!;

/** Istio's header example: DENY when `x-block: yes` (the module reads that header only). */
const DENY_BLOCK_HEADER = normalisePolicy(
  {
    namespace: 'default',
    name: 'deny-blocked',
    annotations: {},
    resourceVersion: 1,
    spec: { action: 'DENY', rules: [{ when: [{ key: 'request.headers[X-Block]', values: ['yes'] }] }] },
  },
  'istio-system',
).policy!;

/** ALLOW any GET under /items/ (a prefix: every item's path passes the same tests). */
const ALLOW_ITEMS = normalisePolicy(
  {
    namespace: 'default',
    name: 'items',
    annotations: {},
    resourceVersion: 1,
    spec: { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'], paths: ['/items/*'] } }] }] },
  },
  'istio-system',
).policy!;

/** AUDIT any request under /audited/ (marks the decision for the log; decides nothing). */
const AUDIT_AUDITED = normalisePolicy(
  {
    namespace: 'default',
    name: 'audited',
    annotations: {},
    resourceVersion: 1,
    spec: { action: 'AUDIT', rules: [{ to: [{ operation: { paths: ['/audited/*'] } }] }] },
  },
  'istio-system',
).policy!;

/** The generated modules of the policy sets the tests use, compiled before they run. */
const istioModules = new Map<string, { wasm: Buffer; generated: GeneratedAuthzModule }>();
const SETS: NormalPolicy[][] = [
  [ALLOW_CLIENT_GET],
  [],
  [ALLOW_CLIENT_GET, DENY_BLOCK_HEADER],
  [ALLOW_ITEMS],
  [ALLOW_CLIENT_GET, AUDIT_AUDITED],
];
const setKey = (policies: NormalPolicy[], scoped = true) => `${scoped}:${policies.map((p) => p.id).join(',')}`;
let envoyWasm: Buffer;

/**
 * A bundle document as `GET /v1/bundles/authz` answers it: the namespace's (scoped module,
 * labels null), or with `labels` the workload's (the policies given must be those selecting it).
 */
function bundleDoc(
  revision: string,
  options: {
    policies?: NormalPolicy[];
    rego?: boolean;
    wasm?: Buffer;
    labels?: Record<string, string>;
    /** false: no `istio.matchers`, as a policy service from before them sends. */
    matchers?: boolean;
    /** The Rego policy's `inputPaths` (absent when not given). */
    inputPaths?: unknown;
  } = {},
) {
  const module = (wasm: Buffer) => ({
    wasm: wasm.toString('base64'),
    wasmSha256: createHash('sha256').update(wasm).digest('hex'),
  });
  const policies = options.policies ?? [ALLOW_CLIENT_GET];
  const istio = istioModules.get(setKey(policies, options.labels === undefined))!;
  return {
    format: BUNDLE_FORMAT,
    revision,
    namespace: 'default',
    labels: options.labels ?? null,
    generatedAt: new Date().toISOString(),
    istio: {
      entrypoint: ISTIO_AUTHZ_ENTRYPOINT,
      ...module(options.wasm ?? istio.wasm),
      data: {},
      headers: istio.generated.headers,
      attributes: istio.generated.attributes,
      outcomes: istio.generated.outcomes,
      ...(options.matchers === false ? {} : { matchers: istio.generated.matchers }),
      version: 7,
      policies: policies.map((p) => p.id),
    },
    policy: options.rego
      ? {
          name: 'envoy-authz',
          revision: 2,
          entrypoint: 'envoy/authz/allow',
          ...module(envoyWasm),
          data: {},
          ...(options.inputPaths === undefined ? {} : { inputPaths: options.inputPaths }),
        }
      : null,
  };
}

function request(
  source: string | undefined,
  method = 'GET',
  headers: Record<string, string> = {},
): AuthorizationRequest {
  return {
    method,
    path: '/items?limit=1',
    host: 'server:8080',
    headers: { host: 'server:8080', ...headers },
    protocol: 'HTTP/1.1',
    sourcePrincipal: source,
    destinationPrincipal: SERVER,
    destinationPort: 8080,
  };
}

function authorizer(decisions?: DecisionLogEntry[]): PolicyAuthorizer {
  return new PolicyAuthorizer({
    local: { namespace: 'default', labels: { app: 'server' } },
    logger,
    reporter: 'proxy:server.default',
    decisions: decisions ? { record: (e) => decisions.push(toLogEntry(e)) } : undefined,
  });
}

/** An authorizer whose decision sink keeps the records as they are made (inputs not built yet). */
function recordingAuthorizer(options: { logAllowed?: boolean } = {}) {
  const records: DecisionRecord[] = [];
  const authz = new PolicyAuthorizer({
    local: { namespace: 'default', labels: { app: 'server' } },
    logger,
    reporter: 'proxy:server.default',
    decisions: { record: (e) => records.push(e) },
    ...options,
  });
  return { authz, records };
}

before(async () => {
  envoyWasm = await compile(ENVOY_POLICY, 'envoy/authz/allow');
  for (const set of SETS) {
    for (const scoped of [true, false]) {
      const generated = generateIstioAuthz(set, { compact: true, scoped }); // as BundlesService generates them
      istioModules.set(setKey(set, scoped), { wasm: await compile(generated.rego, generated.entrypoint), generated });
    }
  }
});

describe('PolicyAuthorizer (in-process, wasm)', () => {
  it('fails closed before a bundle is loaded', () => {
    const result = authorizer().authorize(request(CLIENT));
    assert.equal(result.allowed, false);
    assert.equal(result.status, 403);
    assert.equal(result.body, NO_BUNDLE_BODY);
  });

  it('enforces AuthorizationPolicies: the client may GET; POST and other identities are denied', async () => {
    const logged: DecisionLogEntry[] = [];
    const authz = authorizer(logged);
    await authz.install(parseBundle(bundleDoc('r1')));
    assert.equal(authz.authorize(request(CLIENT)).allowed, true);
    const post = authz.authorize(request(CLIENT, 'POST'));
    assert.deepEqual([post.allowed, post.status, post.body], [false, 403, 'RBAC: access denied']);
    assert.match(post.reason!, /none matched/);
    assert.equal(authz.authorize(request(OTHER)).allowed, false);
    assert.equal(authz.authorize(request(undefined)).allowed, false, 'plaintext has no principal');
    assert.equal(logged.length, 4);
    assert.equal(logged[1].allowed, false);
    assert.equal(logged[1].http_status, 403);
    assert.equal(logged[1].path, ISTIO_AUTHZ_ENTRYPOINT);
  });

  it("enforces a workload's bundle (no scope checks), and refuses one made for other labels or another namespace", async () => {
    const logged: DecisionLogEntry[] = [];
    const authz = authorizer(logged);
    await authz.install(parseBundle(bundleDoc('w1', { labels: { app: 'server' } })));
    assert.equal(authz.authorize(request(CLIENT)).allowed, true);
    const post = authz.authorize(request(CLIENT, 'POST'));
    assert.deepEqual(
      [post.allowed, post.reason],
      [false, 'AuthorizationPolicy: ALLOW policies apply to the workload but none matched'],
    );
    assert.deepEqual(logged[0].result, {
      allowed: true,
      action: 'ALLOW',
      reason: 'an ALLOW policy matched',
      policy: 'default/server-get',
      ruleIndex: 0,
      audit: false,
      auditPolicies: [],
      custom: [],
      dryRun: [],
    });
    await assert.rejects(
      authz.install(parseBundle(bundleDoc('w2', { labels: { app: 'other' } }))),
      (error: Error) =>
        error instanceof BundleFormatError && /bundle\.labels: made for \{"app":"other"\}/.test(error.message),
    );
    await assert.rejects(
      authz.install(parseBundle({ ...bundleDoc('w3', { labels: { app: 'server' } }), namespace: 'prod' })),
      /bundle\.namespace: made for prod, this workload is in default/,
    );
    assert.equal(authz.status().revision, 'w1', 'the last good bundle stays');
    assert.equal(authz.authorize(request(OTHER)).allowed, false);
  });

  it('keeps decisions by request key: a request differing only in what no policy reads reuses one; a new bundle starts afresh', async () => {
    const logged: DecisionLogEntry[] = [];
    const authz = authorizer(logged);
    await authz.install(parseBundle(bundleDoc('c1', { policies: [ALLOW_CLIENT_GET, DENY_BLOCK_HEADER] })));
    const cache = () => authz.status().decisionCache;
    // Another path, another unread header: the module reads neither (methods, principals and
    // x-block only), so all three have one key of each kind (request, matchers). Kept on its
    // second sighting, hit on the third.
    for (const [path, other] of [
      ['/items', 'a'],
      ['/elsewhere', 'b'],
      ['/third', 'c'],
    ]) {
      assert.equal(authz.authorize({ ...request(CLIENT, 'GET', { 'x-other': other }), path }).allowed, true);
    }
    assert.deepEqual(cache(), { entries: 2, hits: 1, misses: 2 });
    // What the module reads decides, kept or not.
    for (let i = 0; i < 3; i++) {
      assert.equal(authz.authorize(request(CLIENT, 'GET', { 'x-block': 'yes' })).allowed, false);
      assert.equal(authz.authorize(request(OTHER, 'GET')).allowed, false);
      assert.equal(authz.authorize(request(CLIENT, 'POST')).allowed, false);
    }
    assert.deepEqual(cache(), { entries: 8, hits: 4, misses: 8 });
    // Every decision is logged with the deciding policy, kept or not.
    assert.equal(logged.length, 12);
    const policies = logged.map((e) => (e.result as { policy: string | null }).policy);
    assert.deepEqual(policies.slice(3, 6), ['default/deny-blocked', null, null]);
    assert.deepEqual(policies.slice(9, 12), policies.slice(3, 6), 'a kept decision names the same policy');
    await authz.install(parseBundle(bundleDoc('c2', { policies: [] })));
    assert.equal(cache().entries, 0);
    for (let i = 0; i < 3; i++) {
      assert.equal(authz.authorize(request(OTHER, 'GET')).allowed, true, 'the new bundle decides, not a kept decision');
    }
  });

  it('keeps one decision for requests whose values pass the same tests (every path under a prefix), and per request without matchers', async () => {
    const authz = authorizer();
    const cache = () => authz.status().decisionCache;
    const get = (path: string, method = 'GET') => authz.authorize({ ...request(CLIENT, method), path }).allowed;
    await authz.install(parseBundle(bundleDoc('m1', { policies: [ALLOW_ITEMS] })));
    for (const n of [1, 2, 3, 4, 5]) assert.equal(get(`/items/${n}?page=${n}`), true);
    assert.deepEqual(cache(), { entries: 1, hits: 3, misses: 2 }, 'one entry for every item');
    // What the tests tell apart is decided apart, kept or not.
    for (let i = 0; i < 3; i++) {
      assert.equal(get('/items'), false);
      assert.equal(get('/other/1'), false);
      assert.equal(get('/items/9', 'POST'), false);
    }
    // `/items` and `/other/1` fail the same test: from the second round each is decided by the
    // entry the two made together; only POST is evaluated twice before it is kept.
    assert.equal(cache().misses, 2 + 3 + 1);
    assert.equal(get('/items/10'), true);
    assert.equal(cache().misses, 6, 'a new item is decided by its class');
    // A bundle without matchers (an older policy service): kept by request, so items differ.
    await authz.install(parseBundle(bundleDoc('m2', { policies: [ALLOW_ITEMS], matchers: false })));
    for (const n of [1, 2, 3, 4]) assert.equal(get(`/items/${n}`), true);
    assert.equal(cache().entries, 0);
    for (let i = 0; i < 3; i++) assert.equal(get('/items/1'), true);
    assert.equal(cache().entries, 1);
  });

  it('denies when the module answers outside its outcome table (fail closed)', async () => {
    const authz = authorizer();
    const doc = bundleDoc('t1');
    await authz.install(parseBundle({ ...doc, istio: { ...doc.istio, outcomes: [] } }));
    const result = authz.authorize(request(CLIENT));
    assert.deepEqual([result.allowed, result.status], [false, 403]);
    assert.match(result.reason!, /AuthorizationPolicy evaluation failed: no decision \(\[\d+,0\]\)/);
  });

  it('gives the module only the headers its policies read, and they decide', async () => {
    const logged: DecisionLogEntry[] = [];
    const authz = authorizer(logged);
    await authz.install(parseBundle(bundleDoc('r4', { policies: [ALLOW_CLIENT_GET, DENY_BLOCK_HEADER] })));
    assert.equal(authz.authorize(request(CLIENT, 'GET', { 'x-other': 'yes' })).allowed, true);
    const blocked = authz.authorize(request(CLIENT, 'GET', { 'X-Block': 'yes' }));
    assert.equal(blocked.allowed, false);
    assert.match(blocked.reason!, /DENY policy matched \(default\/deny-blocked\)/);
    // The decision log keeps the whole input and the module's decision (policy and rule).
    const headers = (logged[1].input as { attributes: { request: { http: { headers: object } } } }).attributes.request
      .http.headers;
    assert.equal((headers as Record<string, string>)['x-block'], 'yes');
    assert.deepEqual(
      [(logged[1].result as { policy: string }).policy, (logged[1].result as { ruleIndex: number }).ruleIndex],
      ['default/deny-blocked', 0],
    );
  });

  it('without a Rego policy, logs a decision whose input is built later, as requestInput builds it', async () => {
    const { authz, records } = recordingAuthorizer();
    await authz.install(parseBundle(bundleDoc('r5')));
    const asked = request(CLIENT, 'GET', { authorization: 'Bearer t' });
    assert.equal(authz.authorize(asked).allowed, true);
    assert.equal(authz.authorize({ ...asked, path: '/items/%E0%A4%A' }).allowed, false);
    assert.equal(typeof records[0].input, 'function', 'not built on the request path');
    const entry = toLogEntry(records[0]);
    const expected = requestInput(
      asked,
      { namespace: 'default', labels: { app: 'server' } },
      new Date(entry.timestamp),
    );
    assert.deepEqual(entry.input, maskInput(expected));
    assert.equal(
      (entry.input as { attributes: { request: { http: { headers: Record<string, string> } } } }).attributes.request
        .http.headers.authorization,
      '[masked]',
    );
    assert.deepEqual(
      [(entry.result as { policy: string }).policy, (entry.result as { ruleIndex: number }).ruleIndex],
      ['default/server-get', 0],
    );
    // A request with no input document is logged with its principal only, as before.
    assert.deepEqual(toLogEntry(records[1]).input, { attributes: { source: { principal: CLIENT } } });
    assert.match(records[1].reason!, /invalid request/);
  });

  it('allows everything when no ALLOW policy applies to the workload (Istio semantics)', async () => {
    const authz = authorizer();
    await authz.install(parseBundle(bundleDoc('r0', { policies: [] })));
    assert.equal(authz.authorize(request(OTHER, 'DELETE')).allowed, true);
  });

  it('then honours the Rego decision: headers upstream, or status, body and headers of the denial', async () => {
    const authz = authorizer();
    await authz.install(parseBundle(bundleDoc('r2', { rego: true })));
    const ok = authz.authorize(request(CLIENT, 'GET', { 'x-token': 'secret' }));
    assert.equal(ok.allowed, true);
    assert.deepEqual(ok.headers, { 'x-user': 'alice' });
    const no = authz.authorize(request(CLIENT));
    assert.deepEqual(
      [no.allowed, no.status, no.body, no.headers],
      [false, 401, 'who are you?', { 'x-why': 'no token' }],
    );
    // The AuthorizationPolicies still come first.
    assert.equal(authz.authorize(request(OTHER, 'GET', { 'x-token': 'secret' })).status, 403);
  });

  it('with decision logs for denials only (PROXY_DECISION_LOGS=denied), records the denials and what AUDIT marks', async () => {
    const { authz, records } = recordingAuthorizer({ logAllowed: false });
    await authz.install(parseBundle(bundleDoc('r6', { policies: [ALLOW_CLIENT_GET, AUDIT_AUDITED] })));
    for (let i = 0; i < 3; i++) assert.equal(authz.authorize(request(CLIENT)).allowed, true);
    assert.equal(authz.authorize(request(CLIENT, 'POST')).allowed, false);
    assert.equal(authz.authorize(request(OTHER)).allowed, false);
    assert.equal(authz.authorize({ ...request(CLIENT), path: '/audited/1' }).allowed, true);
    assert.deepEqual(
      records.map((r) => [r.allowed, (toLogEntry(r).input.parsed_path as string[]).join('/')]),
      [
        [false, 'items'],
        [false, 'items'],
        [true, 'audited/1'],
      ],
    );
    assert.deepEqual(authz.decisions(), { allowed: 4, denied: 2 });
  });

  it('keeps Rego decisions by the parts of the input the policy reads, and none that read the clock', async () => {
    const authz = authorizer();
    const cache = () => authz.status().policyDecisionCache;
    // The policy reads the x-token header alone (what Policy finds in its plan).
    await authz.install(
      parseBundle(
        bundleDoc('k1', { rego: true, inputPaths: [['attributes', 'request', 'http', 'headers', 'x-token']] }),
      ),
    );
    const call = (n: number, token?: string) =>
      authz.authorize({
        ...request(CLIENT, 'GET', { 'x-request-id': `id-${n}`, ...(token ? { 'x-token': token } : {}) }),
        path: `/items/${n}`,
      });
    // Each decision is kept under two keys: the raw fields its parts come from, and the parts.
    for (const n of [1, 2, 3]) assert.deepEqual(call(n, 'secret').headers, { 'x-user': 'alice' });
    assert.deepEqual(cache(), { entries: 2, hits: 1, misses: 2 }, 'another path and request id: the same decision');
    for (const n of [4, 5, 6, 7]) {
      const denied = call(n, n === 7 ? 'wrong' : undefined);
      assert.deepEqual([denied.allowed, denied.status, denied.body], [false, 401, 'who are you?']);
    }
    assert.deepEqual(cache(), { entries: 4, hits: 2, misses: 5 }, 'no token, and a wrong one: each its own key');
    assert.equal(call(8, 'secret').allowed, true);
    // Other raw fields with the same parts (a later spelling of the header wins): found by the parts.
    const respelt = authz.authorize({
      ...request(CLIENT, 'GET', { 'X-Token': 'wrong', 'x-token': 'secret' }),
      path: '/items/9',
    });
    assert.deepEqual(respelt.headers, { 'x-user': 'alice' });
    assert.deepEqual(cache(), { entries: 4, hits: 4, misses: 5 });

    // Without inputPaths (an older policy service, or a policy that may read anything): every request evaluated.
    await authz.install(parseBundle(bundleDoc('k2', { rego: true })));
    assert.equal(cache(), null);
    assert.equal(call(9, 'secret').allowed, true);
    assert.equal(call(10).allowed, false);

    // A decision that read the clock may change with time alone: never kept.
    let now = new Date('2030-01-01T00:00:00Z');
    const timed = new PolicyAuthorizer({
      local: { namespace: 'default', labels: { app: 'server' } },
      logger,
      reporter: 't',
      now: () => now,
    });
    const clockWasm = await compile(
      'package envoy.authz\n\nallow if time.now_ns() < time.parse_rfc3339_ns("2030-06-01T00:00:00Z")\n',
      'envoy/authz/allow',
    );
    const doc = bundleDoc('k3', { rego: true, inputPaths: [] });
    doc.policy!.wasm = clockWasm.toString('base64');
    doc.policy!.wasmSha256 = createHash('sha256').update(clockWasm).digest('hex');
    await timed.install(parseBundle(doc));
    for (let i = 0; i < 3; i++) assert.equal(timed.authorize(request(CLIENT)).allowed, true);
    now = new Date('2030-07-01T00:00:00Z');
    assert.equal(timed.authorize(request(CLIENT)).allowed, false, 'decided again, not kept');
    assert.deepEqual(timed.status().policyDecisionCache, { entries: 0, hits: 0, misses: 4 });

    // inputPaths it cannot read would key decisions wrongly: the bundle is refused.
    for (const bad of [[[]], ['attributes'], [['a', 1]], {}]) {
      assert.throws(
        () => parseBundle(bundleDoc('bad', { rego: true, inputPaths: bad })),
        /bundle\.policy\.inputPaths: must be an array of non-empty arrays of keys/,
      );
    }
  });

  it('denies on an undefined decision (evaluation error: fail closed)', async () => {
    const authz = authorizer();
    const undefinedPolicy = await compile('package envoy.authz\n\nallow if false\n', 'envoy/authz/allow');
    const doc = bundleDoc('r3', { rego: true });
    doc.policy!.wasm = undefinedPolicy.toString('base64');
    doc.policy!.wasmSha256 = createHash('sha256').update(undefinedPolicy).digest('hex');
    await authz.install(parseBundle(doc));
    const result = authz.authorize(request(CLIENT));
    assert.equal(result.allowed, false);
    assert.match(result.reason!, /undefined/);
  });

  it('refuses a bundle whose wasm does not match its hash, or does not load, or of another format', async () => {
    const doc = bundleDoc('bad');
    doc.istio.wasmSha256 = '0'.repeat(64);
    assert.throws(() => parseBundle(doc), BundleFormatError);
    // v1 carried a generic module for the opa-envoy input: this proxy would misread it.
    assert.throws(() => parseBundle({ ...bundleDoc('v1'), format: 'bowline.authz-bundle/v1' }), /bundle\.format/);
    // Matchers the proxy cannot read would key decisions wrongly: the bundle is refused.
    const matchers = (value: unknown) => {
      const bad = bundleDoc('m');
      return () => parseBundle({ ...bad, istio: { ...bad.istio, matchers: value } });
    };
    const regex = { attributes: { 'request.path': [{ kind: 'regex', value: '.*' }] }, headers: {} };
    assert.throws(
      matchers(regex),
      /bundle\.istio\.matchers\.attributes: must be an object of \[\{kind, value\}\] lists/,
    );
    assert.throws(matchers({ attributes: {} }), /bundle\.istio\.matchers\.headers/);
    assert.throws(matchers([]), /bundle\.istio\.matchers: must be an object/);
    assert.equal(parseBundle(bundleDoc('m', { matchers: false })).istio.matchers, null);
    const authz = authorizer();
    await assert.rejects(authz.install(parseBundle(bundleDoc('bad', { wasm: Buffer.from('not wasm') }))));
    assert.equal(authz.ready, false);
  });
});

/** A fake policy service: answers each poll with the next scripted reply and records the requests. */
function scripted(replies: (() => Response | Promise<Response>)[]) {
  const seen: { url: URL; headers: Record<string, string> }[] = [];
  const fetchFake = (async (url: URL, init?: RequestInit) => {
    seen.push({ url: new URL(url), headers: (init?.headers ?? {}) as Record<string, string> });
    const next = replies.shift();
    if (!next) {
      // Hang like a long poll until the client stops.
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    }
    return next();
  }) as typeof fetch;
  return { seen, fetch: fetchFake };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('BundleClient', () => {
  it('installs a bundle, then polls with If-None-Match and a wait; 304 changes nothing', async () => {
    const authz = authorizer();
    let installs = 0;
    const service = scripted([() => json(bundleDoc('rev-1')), () => new Response(null, { status: 304 })]);
    const client = new BundleClient({
      baseUrl: 'http://policy.test:8084',
      token: 'tok',
      namespace: 'default',
      install: async (b) => {
        installs += 1;
        await authz.install(b);
      },
      logger,
      fetch: service.fetch,
    });
    assert.equal(await client.pollOnce(), true);
    assert.equal(await client.pollOnce(), false);
    assert.equal(installs, 1);
    assert.equal(service.seen[0].headers.authorization, 'Bearer tok');
    assert.equal(service.seen[0].headers['if-none-match'], undefined);
    assert.equal(service.seen[0].url.searchParams.get('namespace'), 'default');
    assert.equal(service.seen[1].headers['if-none-match'], '"rev-1"');
    assert.equal(service.seen[1].url.searchParams.get('wait'), '30s');
    assert.equal(client.status().revision, 'rev-1');
  });

  it("names the workload's labels (sorted) so the bundle holds only the policies selecting it", async () => {
    const asked = async (labels?: Record<string, string>) => {
      const service = scripted([() => json(bundleDoc('rev-1'))]);
      const client = new BundleClient({
        baseUrl: 'http://policy.test:8084',
        namespace: 'default',
        labels,
        install: async () => undefined,
        logger,
        fetch: service.fetch,
      });
      await client.pollOnce();
      return service.seen[0].url.searchParams.get('labels');
    };
    assert.equal(await asked({ version: 'v1', app: 'server' }), 'app=server,version=v1');
    assert.equal(await asked({}), '', 'a workload without labels');
    assert.equal(await asked(undefined), null);
    assert.equal(await asked({ app: 'has space' }), null, 'not a Kubernetes label: the whole namespace set');
  });

  it('keeps the last good bundle through errors, bad bundles and an unreachable service', async () => {
    const authz = authorizer();
    const service = scripted([
      () => json(bundleDoc('rev-1')),
      () => json({ title: 'Service unavailable', detail: 'Galley away' }, 503),
      () => json({ format: 'something else' }),
      () => json(bundleDoc('rev-2', { wasm: Buffer.from('not wasm') })),
      () => Promise.reject(new TypeError('fetch failed')),
      () => json(bundleDoc('rev-3', { policies: [] })),
    ]);
    const client = new BundleClient({
      baseUrl: 'http://policy.test:8084',
      namespace: 'default',
      install: (b) => authz.install(b),
      logger,
      fetch: service.fetch,
      minBackoffMs: 1,
      maxBackoffMs: 5,
      minIntervalMs: 1,
    });
    client.start();
    await client.loaded();
    for (let i = 0; i < 200 && client.status().revision !== 'rev-3'; i++) {
      // Between failures the first bundle decides.
      assert.equal(authz.authorize(request(OTHER)).allowed, false);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(client.status().revision, 'rev-3');
    assert.equal(authz.authorize(request(OTHER)).allowed, true, 'the new (empty) set is in use');
    assert.equal(service.seen[3].headers['if-none-match'], '"rev-1"', 'a refused bundle is fetched again');
    await client.stop();
  });
});

describe('DecisionLogShipper', () => {
  it('masks secrets, retries a failed batch and counts drops beyond its bound', async () => {
    const posted: { decisions: DecisionLogEntry[] }[] = [];
    let fail = true;
    const fetchFake = (async (_url: URL, init?: RequestInit) => {
      if (fail) throw new TypeError('fetch failed');
      posted.push(JSON.parse(String(init?.body)) as { decisions: DecisionLogEntry[] });
      return json({ received: 1, stored: 1 }, 201);
    }) as typeof fetch;
    const shipper = new DecisionLogShipper({
      baseUrl: 'http://p',
      logger,
      fetch: fetchFake,
      maxBuffered: 3,
      batchSize: 100,
    });
    const entry = (n: number): DecisionLogEntry => ({
      decision_id: `d${n}`,
      timestamp: new Date().toISOString(),
      path: 'p',
      input: { attributes: { request: { http: { headers: { authorization: 'Bearer x', a: 'b' } } } } },
      allowed: true,
      reporter: 'r',
    });
    for (let n = 0; n < 4; n++) shipper.record(entry(n));
    await shipper.flush();
    assert.deepEqual([shipper.status().buffered, shipper.status().dropped], [3, 1]);
    fail = false;
    await shipper.flush();
    assert.deepEqual(
      posted.flatMap((b) => b.decisions.map((d) => d.decision_id)),
      ['d0', 'd1', 'd2'],
    );
    const headers = (posted[0].decisions[0].input as { attributes: { request: { http: { headers: object } } } })
      .attributes.request.http.headers;
    assert.deepEqual(headers, { authorization: '[masked]', a: 'b' });
    assert.equal(maskInput({ x: 1 }).x, 1);
  });

  it('builds a lazy input once, when the batch is sent, and sends a full batch after the current callback', async () => {
    const posted: { decisions: DecisionLogEntry[] }[] = [];
    const fetchFake = (async (_url: URL, init?: RequestInit) => {
      posted.push(JSON.parse(String(init?.body)) as { decisions: DecisionLogEntry[] });
      return json({ received: 2, stored: 2 }, 201);
    }) as typeof fetch;
    const shipper = new DecisionLogShipper({ baseUrl: 'http://p', logger, fetch: fetchFake, batchSize: 2 });
    let built = 0;
    const record = (n: number): DecisionRecord => ({
      decision_id: `d${n}`,
      timestamp: new Date().toISOString(),
      path: 'p',
      input: () => {
        built += 1;
        return { attributes: { request: { http: { headers: { cookie: 'c', a: `${n}` } } } } };
      },
      allowed: true,
      reporter: 'r',
    });
    shipper.record(record(0));
    shipper.record(record(1));
    assert.deepEqual([built, posted.length], [0, 0], 'nothing is built or sent while recording');
    await new Promise((resolve) => setImmediate(resolve));
    await shipper.flush();
    assert.equal(built, 2);
    assert.deepEqual(
      posted[0].decisions.map((d) => d.input),
      [0, 1].map((n) => ({ attributes: { request: { http: { headers: { cookie: '[masked]', a: `${n}` } } } } })),
    );
    await shipper.stop();
  });

  it('cuts batches at about 1 MiB of JSON, and resends a failed batch with the same content', async () => {
    const bodies: string[] = [];
    let fail = true;
    const fetchFake = (async (_url: URL, init?: RequestInit) => {
      if (fail) throw new TypeError('fetch failed');
      bodies.push(String(init?.body));
      return json({ received: 1, stored: 1 }, 201);
    }) as typeof fetch;
    const shipper = new DecisionLogShipper({ baseUrl: 'http://p', logger, fetch: fetchFake, batchSize: 1000 });
    const big = 'x'.repeat(100 * 1024);
    for (let n = 0; n < 25; n++) {
      shipper.record({
        decision_id: `d${n}`,
        timestamp: '2026-01-01T00:00:00.000Z',
        path: 'p',
        input: () => ({ attributes: { request: { http: { headers: { 'x-big': big, authorization: 'Bearer t' } } } } }),
        allowed: true,
        reporter: 'r',
      });
    }
    await shipper.flush();
    assert.equal(shipper.status().buffered, 25, 'kept for the next flush');
    fail = false;
    await shipper.flush();
    const batches = bodies.map((b) => JSON.parse(b) as { decisions: DecisionLogEntry[] });
    assert.ok(batches.length >= 3, `${batches.length} batches`);
    for (const body of bodies) assert.ok(body.length < 1.2 * 1024 * 1024, `a body of ${body.length} bytes`);
    assert.deepEqual(
      batches.flatMap((b) => b.decisions.map((d) => d.decision_id)),
      Array.from({ length: 25 }, (_, n) => `d${n}`),
    );
    const headers = (batches[0].decisions[0].input as { attributes: { request: { http: { headers: object } } } })
      .attributes.request.http.headers;
    assert.deepEqual(headers, { 'x-big': big, authorization: '[masked]' });
    assert.equal(shipper.status().sent, 25);
  });
});
