import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, json, ServiceProcess, type TestDatabase } from '#libs/testing';
import { BOOKINFO, galleyClient } from './galley-fixtures';

const ADMIN = 'galley-e2e-admin-token-0123456789abcdef';

/** Galley's REST API against a real process and PostgreSQL: apply, validate, version, analyze. */
describe('galley config API', () => {
  let db: TestDatabase;
  let galley: ServiceProcess;
  const api = galleyClient(() => galley, ADMIN);
  const count = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM galley_resources'))[0].n);

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    galley = await ServiceProcess.spawn('galley', { DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: ADMIN });
    await galley.waitFor('/readyz');
  });
  after(async () => {
    await galley?.stop();
    await db?.drop();
  });

  it('applies a multi-document Istio YAML as is, and reapplying it changes nothing', async () => {
    const response = await api.apply(BOOKINFO);
    assert.equal(response.status, 200, await response.clone().text());
    const report = await json(response);
    assert.deepEqual(
      report.results.map((r: any) => `${r.document} ${r.operation} ${r.kind} ${r.namespace}/${r.name}`),
      [
        '0 created VirtualService default/reviews',
        '1 created DestinationRule default/reviews',
        '2 created WorkloadEntry default/reviews-v1',
        '3 created WorkloadEntry default/reviews-v2',
        '4 created ServiceEntry default/external-svc-https',
        '5 created AuthorizationPolicy foo/httpbin',
      ],
    );
    const versions = report.results.map((r: any) => r.resourceVersion);
    assert.deepEqual(
      versions,
      [...versions].sort((a, b) => a - b),
      'versions increase in document order',
    );
    assert.deepEqual(report.warnings, []);

    const again = await json(await api.apply(BOOKINFO));
    assert.ok(again.results.every((r: any) => r.operation === 'unchanged'));
    assert.equal(again.version, report.version, 'no new version for unchanged documents');

    const vs = await api.get('/v1/resources/VirtualService/default/reviews');
    assert.equal(vs.apiVersion, 'networking.istio.io/v1');
    assert.equal(vs.metadata.resourceVersion, String(versions[0]));
    assert.equal(vs.spec.http[0].route[1].weight, 25);
    assert.equal((await api.get('/v1/resources/virtualservices/default/reviews')).metadata.name, 'reviews');
  });

  it('lists by kind, namespace and equality-based label selector', async () => {
    const all = await api.get('/v1/resources');
    assert.equal(all.kind, 'List');
    assert.equal(all.items.length, 6);
    const reviews = await api.get('/v1/resources?labelSelector=app%3Dreviews');
    assert.equal(reviews.items.length, 4);
    const noEntries = await api.get('/v1/resources?labelSelector=app%3Dreviews,kind!%3Dx&kind=WorkloadEntry');
    assert.deepEqual(
      noEntries.items.map((i: any) => i.metadata.name),
      ['reviews-v1', 'reviews-v2'],
    );
    const notReviews = await api.get('/v1/resources?labelSelector=app!%3Dreviews');
    assert.deepEqual(notReviews.items.map((i: any) => i.kind).sort(), ['AuthorizationPolicy', 'ServiceEntry']);
    assert.equal((await api.get('/v1/resources/AuthorizationPolicy/foo')).items.length, 1);
    assert.equal((await api.call('GET', '/v1/resources?labelSelector=a%3D%3D%3Db')).status, 400);
  });

  it('refuses every invalid document with its index, identity and field path, storing none', async () => {
    const before = await count();
    const yaml = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings, subset: v1}
      weight: 60
    - destination: {host: ratings, subset: v2}
      weight: 30
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-bad
  namespace: prod
spec:
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/sleep", "sleep"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: fine
spec:
  host: ratings
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: Bad_Name
spec:
  ports:
  - number: 70000
    protocol: CARRIER-PIGEON
`;
    const response = await api.apply(yaml);
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    const problem = await json(response);
    const lines = problem.errors.map(
      (e: any) => `${e.document} ${e.kind} ${e.namespace}/${e.name} ${e.path}: ${e.message}`,
    );
    assert.ok(
      lines.includes(
        '0 VirtualService default/ratings spec.http[0].route: weights of the destinations must add up to 100 (they add up to 90)',
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.includes(
        '1 AuthorizationPolicy prod/deny-bad spec.rules[0].from[0].source.principals[1]: must be "*" or <trust-domain>/ns/<ns>/sa/<sa>',
      ),
      lines.join('\n'),
    );
    for (const path of ['spec.hosts', 'spec.ports[0].number', 'spec.ports[0].protocol', 'metadata.name']) {
      assert.ok(
        problem.errors.some((e: any) => e.document === 3 && e.path === path),
        `document 3 ${path}: ${lines.join('\n')}`,
      );
    }
    assert.ok(!problem.errors.some((e: any) => e.document === 2), 'the valid document has no problem');
    const principal = problem.errors.find((e: any) => e.document === 1);
    assert.equal(principal.line, 24, 'YAML problems carry the line of the offending node');
    assert.equal(await count(), before, 'nothing was stored, not even the valid document');
  });

  it('reports malformed YAML with its line and column', async () => {
    const response = await api.apply('apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: [oops\n');
    assert.equal(response.status, 400);
    const problem = await json(response);
    assert.equal(problem.errors[0].document, 0);
    assert.equal(typeof problem.errors[0].line, 'number');
    assert.equal(typeof problem.errors[0].column, 'number');
    assert.match(problem.errors[0].message, /line \d+, column \d+/);
    const second = await api.apply(`${BOOKINFO}---\nkind: Gateway\n  bad: indentation\n`);
    const errors = (await json(second)).errors;
    assert.equal(errors[0].document, 6);
    assert.equal(errors[0].line, BOOKINFO.split('\n').length + 1, 'lines count from the start of the stream');
  });

  it('refuses a stale resourceVersion with 409 naming the document', async () => {
    const current = await api.get('/v1/resources/DestinationRule/default/reviews');
    const edited = {
      ...current,
      spec: { ...current.spec, trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } } },
    };
    const first = await api.applyJson(edited);
    assert.equal(first.status, 200);
    const stale = await api.applyJson({ ...edited, spec: { host: 'reviews' } });
    assert.equal(stale.status, 409);
    const problem = await json(stale);
    assert.equal(problem.errors[0].path, 'metadata.resourceVersion');
    assert.equal(problem.errors[0].name, 'reviews');
    assert.equal(problem.errors[0].kind, 'DestinationRule');
    assert.match(problem.detail, /stale resourceVersion/);
    const after = await api.get('/v1/resources/DestinationRule/default/reviews');
    assert.equal(after.spec.trafficPolicy.loadBalancer.simple, 'LEAST_REQUEST');
  });

  it('validates only with dryRun=true', async () => {
    const before = await count();
    const changes = (await db.query('SELECT version FROM galley_changes')).length;
    const yaml =
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*"]\n';
    const response = await api.apply(yaml, '?dryRun=true');
    assert.equal(response.status, 200);
    const report = await json(response);
    assert.equal(report.dryRun, true);
    assert.equal(report.results[0].operation, 'created');
    assert.equal(await count(), before);
    assert.equal((await db.query('SELECT version FROM galley_changes')).length, changes);
    assert.equal((await api.call('GET', '/v1/resources/Gateway/default/gw')).status, 404);
  });

  it('keeps unknown fields, warns about them, and analyze reports them', async () => {
    const yaml =
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*"]\n    futureField: 1\n';
    const report = await json(await api.apply(yaml));
    assert.equal(report.warnings[0].path, 'spec.servers[0].futureField');
    assert.equal((await api.get('/v1/resources/Gateway/default/gw')).spec.servers[0].futureField, 1);
    const analysis = await api.get('/v1/analyze?namespace=default');
    assert.ok(analysis.findings.some((f: any) => f.code === 'BWL0003' && f.path === 'spec.servers[0].futureField'));
  });

  it('analyzes references like istioctl analyze', async () => {
    const clean = await api.get('/v1/analyze?namespace=default');
    assert.equal(clean.findings.filter((f: any) => f.level !== 'Info').length, 0, JSON.stringify(clean.findings));
    const broken = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details}
spec:
  hosts: [details]
  gateways: [missing-gateway]
  http:
  - route:
    - destination: {host: details}
    - destination: {host: reviews, subset: v3}
      weight: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-v9}
spec:
  host: reviews
  subsets:
  - name: v9
    labels: {version: v9}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: foo}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: permissive, namespace: foo}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: other-domain, namespace: foo}
spec:
  rules:
  - from:
    - source: {principals: ["example.org/ns/default/sa/sleep"]}
`;
    assert.equal((await api.apply(broken)).status, 200);
    const analysis = await api.get('/v1/analyze');
    const messages = analysis.findings.map((f: any) => f.message);
    for (const expected of [
      'Error [IST0101] (VirtualService details.default) Referenced host not found: "details"',
      'Error [IST0101] (VirtualService details.default) Referenced gateway not found: "missing-gateway"',
      'Error [IST0101] (VirtualService details.default) Referenced host+subset in destinationrule not found: "reviews+v3"',
      'Warning [IST0127] (DestinationRule reviews-v9.default) No matching workloads for subset "v9" (labels version=v9)',
      'Error [BWL0001] (PeerAuthentication strict.foo) Namespace-wide PeerAuthentications conflict in namespace foo: permissive, strict (keep one)',
      `Warning [BWL0002] (AuthorizationPolicy other-domain.foo) Principal "example.org/ns/default/sa/sleep" is in trust domain "example.org", not this mesh's "cluster.local"`,
    ]) {
      assert.ok(messages.includes(expected), `missing: ${expected}\n${messages.join('\n')}`);
    }
    const foo = await api.get('/v1/analyze?namespace=foo');
    assert.ok(foo.findings.every((f: any) => f.namespace === 'foo'));
    assert.equal(foo.summary.errors, 2);
  });

  it('deletes a resource and keeps its history', async () => {
    const response = await api.call('DELETE', '/v1/resources/DestinationRule/default/reviews-v9');
    assert.equal(response.status, 200);
    assert.equal((await api.call('GET', '/v1/resources/DestinationRule/default/reviews-v9')).status, 404);
    assert.equal((await api.call('DELETE', '/v1/resources/DestinationRule/default/reviews-v9')).status, 404);
    const history = await api.get('/v1/resources/DestinationRule/default/reviews/history');
    assert.deepEqual(
      history.items.map((i: any) => i.operation),
      ['ADDED', 'MODIFIED'],
    );
    assert.equal(history.items[1].object.spec.trafficPolicy.loadBalancer.simple, 'LEAST_REQUEST');
    const deleted = await api.get('/v1/resources/DestinationRule/default/reviews-v9/history');
    assert.deepEqual(
      deleted.items.map((i: any) => i.operation),
      ['ADDED', 'DELETED'],
    );
  });

  it('needs operator to write and viewer to read', async () => {
    const token = async (role: string) =>
      (await json(await api.call('POST', '/v1/tokens', JSON.stringify({ name: role, role }), 'application/json')))
        .token;
    const viewer = galleyClient(() => galley, await token('viewer'));
    assert.equal((await viewer.call('GET', '/v1/resources')).status, 200);
    assert.equal((await viewer.apply(BOOKINFO)).status, 403);
    const operator = galleyClient(() => galley, await token('operator'));
    assert.equal((await operator.apply(BOOKINFO)).status, 200);
    assert.equal((await api.call('POST', '/v1/apply', 'x', 'application/xml')).status, 415);
  });
});
