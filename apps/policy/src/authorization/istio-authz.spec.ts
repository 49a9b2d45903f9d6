import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import {
  expandIstioDecision,
  istioAttributes,
  type IstioAttributes,
  type KeyedValue,
  matcherKey,
  matcherKeyPlan,
  PolicyRuntime,
} from '#libs/policy-runtime';
import { toolPath } from '#libs/testing';
import { OpaCliCompiler } from '../compiler/opa-cli.compiler';
import type { PolicyConfig } from '../config';
import type { AuthorizationDecision } from './authorization-engine';
import { normaliseRequestPath } from '#libs/policy-runtime';
import { authorizationInput, parseAuthorizationCheck } from './check-input';
import { policiesFor } from '../bundles/workload-selection';
import { generateIstioAuthz } from './istio-authz.codegen';
import { ISTIO_AUTHZ_ENTRYPOINT, ISTIO_AUTHZ_REGO } from './istio-authz.rego';
import { normalisePolicy } from './normalise';

type Spec = Record<string, unknown>;
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';

/**
 * The input, and inputs differing from it in one value a module tests: that value replaced by
 * each matcher's own value, by it with a character added before or after or taken off the end,
 * by "" and by an unrelated value. Many share a matcher key with the input or with each other.
 */
function* siblings(input: IstioAttributes, plan: readonly KeyedValue[]): Generator<IstioAttributes> {
  yield input;
  for (const { attribute, header, tests } of plan) {
    if (tests === null) continue;
    const values = new Set([
      '',
      'zz',
      ...tests.flatMap((t) => [t.value, `${t.value}x`, `x${t.value}`, t.value.slice(0, -1)]),
    ]);
    for (const value of values) {
      yield header === undefined
        ? { ...input, [attribute!]: value }
        : { ...input, 'request.headers': { ...input['request.headers'], [header]: value } };
    }
  }
}

/**
 * Each case twice, on the wasm runtime: the module generated for its policies (what the service
 * and the proxies enforce, compiled by the OPA CLI with the service's capabilities) on the
 * request's Istio attributes, and the reference module ISTIO_AUTHZ_REGO (a generic interpreter
 * of the normalised policies as data) on the opa-envoy input. Both must decide alike, field for
 * field; the assertions then check Istio's semantics.
 */
describe('Istio authorization semantics (generated module against the reference, wasm)', async () => {
  let compiler: OpaCliCompiler;
  let reference: PolicyRuntime;

  before(async () => {
    Logger.overrideLogger(false);
    compiler = new OpaCliCompiler({ opaPath: toolPath('opa'), compileTimeout: 60_000 } as PolicyConfig);
    const { wasm } = await compiler.compile({
      modules: { 'istio_authz.rego': ISTIO_AUTHZ_REGO },
      entrypoints: [ISTIO_AUTHZ_ENTRYPOINT],
    });
    reference = await PolicyRuntime.load(wasm, { entrypoint: ISTIO_AUTHZ_ENTRYPOINT });
  });

  /** Decides `check` with the policies `specs` (all in namespace foo unless `ns/name` says otherwise). */
  async function decide(specs: Record<string, Spec>, check: Spec): Promise<AuthorizationDecision> {
    const policies = Object.entries(specs).flatMap(([id, spec]) => {
      const [namespace, name] = id.includes('/') ? id.split('/') : ['foo', id];
      const annotations = (spec.annotations ?? {}) as Record<string, string>;
      const { annotations: _, ...rest } = spec;
      const { policy } = normalisePolicy(
        { namespace, name, annotations, spec: rest, resourceVersion: 1 },
        'istio-system',
      );
      return policy ? [policy] : [];
    });
    const body = {
      source: { principal: SLEEP, ip: '10.1.2.3' },
      destination: { namespace: 'foo', labels: { app: 'httpbin' }, port: 8000, ip: '10.9.0.1' },
      request: { method: 'GET', path: '/', host: 'HttpBin.foo' },
      ...check,
    };
    const input = authorizationInput(parseAuthorizationCheck(body));
    const generated = generateIstioAuthz(policies);
    const { wasm } = await compiler.compile({
      modules: { 'istio_authz.rego': generated.rego },
      entrypoints: [generated.entrypoint],
    });
    const runtime = await PolicyRuntime.load(wasm, { entrypoint: generated.entrypoint });
    const evaluation = runtime.evaluate(istioAttributes(input, generated.headers));
    assert.equal(evaluation.decision.error, undefined);
    reference.setData({ istio: { policies } });
    const expected = reference.evaluate(input);
    assert.deepEqual(evaluation.result, expected.result, 'the generated module decides as the reference does');
    // Proxy bundles (compact decisions): the namespace's (scoped), and the workload's (only the
    // policies selecting it, no scope checks); expanded, the same decision.
    const attributes = istioAttributes(input, generated.headers);
    const namespace = attributes['destination.namespace'] ?? '';
    const labels = Object.fromEntries(
      Object.entries(attributes['destination.labels'] ?? {}).filter(
        (e): e is [string, string] => typeof e[1] === 'string',
      ),
    );
    const { applicable: _applicable, ...withoutApplicable } = expected.result as Record<string, unknown>;
    const bundles = [
      { set: policiesFor(policies, namespace, undefined), scoped: true, what: "the namespace's bundle" },
      { set: policiesFor(policies, namespace, labels), scoped: false, what: "the workload's bundle" },
    ];
    for (const { set, scoped, what } of bundles) {
      const bundled = generateIstioAuthz(set, { compact: true, scoped });
      const { wasm: bundledWasm } = await compiler.compile({
        modules: { 'istio_authz.rego': bundled.rego },
        entrypoints: [bundled.entrypoint],
        optimize: true,
      });
      const proxy = await PolicyRuntime.load(bundledWasm, { entrypoint: bundled.entrypoint });
      const proxyInput = Object.fromEntries(
        Object.entries(istioAttributes(input, bundled.headers)).filter(
          ([key]) => key === 'request.headers' || bundled.attributes.includes(key),
        ),
      );
      const compact = proxy.evaluateValue(proxyInput);
      assert.deepEqual(
        expandIstioDecision(compact.result, bundled.outcomes),
        withoutApplicable,
        `${what} decides as the reference does, on the attributes it names`,
      );
      // A proxy keeps one decision per matcher key: inputs with the same key must decide alike.
      const plan = matcherKeyPlan(bundled.attributes, bundled.headers, bundled.matchers);
      const byKey = new Map<string, string>();
      for (const variant of siblings(proxyInput as IstioAttributes, plan)) {
        const decided = JSON.stringify(proxy.evaluateValue(variant).result);
        const key = matcherKey(variant, plan);
        const before = byKey.get(key) ?? decided;
        byKey.set(key, before);
        assert.equal(decided, before, `${what}: inputs with matcher key ${key} decide alike`);
      }
    }
    return evaluation.result as AuthorizationDecision;
  }
  const allowed = async (specs: Record<string, Spec>, check: Spec = {}) => (await decide(specs, check)).allowed;
  const allowRule = (rule: Spec): Record<string, Spec> => ({ p: { action: 'ALLOW', rules: [rule] } });
  const denyRule = (rule: Spec): Record<string, Spec> => ({ p: { action: 'DENY', rules: [rule] } });
  const from = (source: Spec) => ({ from: [{ source }] });
  const to = (operation: Spec) => ({ to: [{ operation }] });
  const when = (key: string, values: string[], notValues?: string[]) => ({
    when: [{ key, values, ...(notValues ? { notValues } : {}) }],
  });

  it('rules: [{}] matches everything; no rules matches nothing', async () => {
    assert.equal(await allowed({ p: { rules: [{}] } }), true);
    assert.equal(await allowed({ p: {} }), false);
    assert.equal(await allowed({ p: { action: 'DENY', rules: [{}] } }), false);
    assert.equal(await allowed({ p: { action: 'DENY' } }), true);
  });

  it('principals: exact without spiffe://, presence, and notPrincipals for plaintext callers', async () => {
    assert.equal(await allowed(allowRule(from({ principals: ['cluster.local/ns/default/sa/sleep'] }))), true);
    assert.equal(await allowed(allowRule(from({ principals: ['spiffe://cluster.local/ns/default/sa/sleep'] }))), false);
    assert.equal(await allowed(allowRule(from({ principals: ['*/sa/sleep'] }))), true);
    assert.equal(await allowed(allowRule(from({ principals: ['cluster.local/ns/default/*'] }))), true);
    const plaintext = { source: { ip: '10.1.2.3' } };
    assert.equal(await allowed(denyRule(from({ notPrincipals: ['*'] })), plaintext), false);
    assert.equal(await allowed(denyRule(from({ notPrincipals: ['*'] }))), true);
    assert.equal(await allowed(allowRule(from({ principals: ['*'] })), plaintext), false);
  });

  it('IP blocks: CIDR and single addresses; remoteIpBlocks use the original client IP', async () => {
    assert.equal(await allowed(allowRule(from({ ipBlocks: ['10.1.0.0/16'] }))), true);
    assert.equal(await allowed(allowRule(from({ ipBlocks: ['10.1.2.4'] }))), false);
    assert.equal(await allowed(allowRule(from({ notIpBlocks: ['10.1.2.3'] }))), false);
    const forwarded = { source: { principal: SLEEP, ip: '10.1.2.3', remoteIp: '203.0.113.9' } };
    assert.equal(await allowed(allowRule(from({ remoteIpBlocks: ['203.0.113.0/24'] })), forwarded), true);
    assert.equal(await allowed(allowRule(from({ remoteIpBlocks: ['10.1.2.3'] }))), true, 'defaults to the peer IP');
    assert.equal(await allowed(allowRule(when('destination.ip', ['10.9.0.0/24']))), true);
  });

  it('operations: hosts case-insensitive, ports, methods, paths without the query string', async () => {
    assert.equal(await allowed(allowRule(to({ hosts: ['httpbin.FOO'] }))), true);
    assert.equal(await allowed(allowRule(to({ hosts: ['*.foo'], ports: ['8000'] }))), true);
    assert.equal(await allowed(allowRule(to({ notPorts: ['8000'] }))), false);
    assert.equal(
      await allowed(allowRule(to({ methods: ['GET'], paths: ['/info*'] })), {
        request: { method: 'GET', path: '/info?a=/x' },
      }),
      true,
    );
    assert.equal(await allowed(allowRule(to({ notMethods: ['GET'] }))), false);
    assert.equal(
      await allowed(allowRule(to({ paths: ['*.json'] })), { request: { method: 'GET', path: '/a.json?x=1' } }),
      true,
    );
  });

  it('paths are matched after dot segments are removed, as with Istio path normalisation', async () => {
    const deny = denyRule(to({ paths: ['/admin*'] }));
    assert.equal(await allowed(deny, { request: { method: 'GET', path: '/public/../admin/users' } }), false);
    assert.equal(await allowed(deny, { request: { method: 'GET', path: '/./admin' } }), false);
    assert.equal(await allowed(deny, { request: { method: 'GET', path: '/public/admin?x=/../admin' } }), true);
    assert.equal(normaliseRequestPath('/a/b/..'), '/a/');
    assert.equal(normaliseRequestPath('/../../x/./y/.'), '/x/y/');
    assert.equal(normaliseRequestPath('/a//b?q=1'), '/a//b?q=1');
  });

  it('when: headers, JWT claims (nested and lists), audiences, presenter, sni, notValues', async () => {
    const request = {
      method: 'GET',
      path: '/',
      headers: { 'X-Tenant': 'acme-1' },
      auth: {
        principal: 'https://issuer.test/alice',
        audiences: ['a', 'b'],
        presenter: 'web',
        claims: { iss: 'https://issuer.test', groups: ['dev', 'ops'], nested: { level: 'gold' } },
      },
    };
    const check = { request, connection: { sni: 'httpbin.foo.svc' } };
    assert.equal(await allowed(allowRule(when('request.headers[x-tenant]', ['acme-*'])), check), true);
    assert.equal(await allowed(allowRule(when('request.headers[x-tenant]', ['*'], ['acme-1'])), check), false);
    assert.equal(await allowed(allowRule(when('request.auth.claims[groups]', ['ops'])), check), true);
    assert.equal(await allowed(allowRule(when('request.auth.claims[nested][level]', ['gold'])), check), true);
    assert.equal(await allowed(allowRule(when('request.auth.audiences', ['b'])), check), true);
    assert.equal(await allowed(allowRule(when('request.auth.presenter', ['web'])), check), true);
    assert.equal(await allowed(allowRule(when('connection.sni', ['*.svc'])), check), true);
    assert.equal(await allowed(allowRule(from({ requestPrincipals: ['https://issuer.test/*'] })), check), true);
    assert.equal(await allowed(allowRule(from({ requestPrincipals: ['*'] }))), false, 'no JWT');
    assert.equal(await allowed(allowRule(when('source.namespace', ['default']))), true);
  });

  it('scope: selector labels, the root namespace, other namespaces', async () => {
    const selected = { action: 'DENY', rules: [{}], selector: { matchLabels: { app: 'httpbin' } } };
    assert.equal(await allowed({ p: selected }), false);
    assert.equal(await allowed({ p: { ...selected, selector: { matchLabels: { app: 'ratings' } } } }), true);
    assert.equal(await allowed({ 'istio-system/mesh': { action: 'DENY', rules: [{}] } }), false);
    assert.equal(await allowed({ 'bar/p': { action: 'DENY', rules: [{}] } }), true);
  });

  it('unsupported conditions fail closed; targetRef policies do not apply to sidecars', async () => {
    const serviceAccounts = from({ serviceAccounts: ['default/sleep'] });
    assert.equal(await allowed(allowRule(serviceAccounts)), false);
    assert.equal(await allowed(denyRule(serviceAccounts), { source: { principal: 'spiffe://x/ns/a/sa/b' } }), false);
    assert.equal(await allowed(allowRule(to({ paths: ['/a*b'] }))), false);
    const result = normalisePolicy(
      { namespace: 'foo', name: 'gw', annotations: {}, spec: { targetRefs: [{ name: 'gw' }] }, resourceVersion: 1 },
      'istio-system',
    );
    assert.equal(result.policy, null);
    assert.equal(result.findings[0].path, 'spec.targetRefs');
  });

  it('dry-run policies are reported, not enforced, and do not count as ALLOW policies', async () => {
    const dry = { annotations: { 'istio.io/dry-run': 'true' } };
    const decision = await decide({ p: { ...dry, action: 'ALLOW', rules: [to({ methods: ['POST'] })] } }, {});
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.dryRun, [{ policy: 'foo/p', action: 'ALLOW', matched: false, ruleIndex: null }]);
  });
});
