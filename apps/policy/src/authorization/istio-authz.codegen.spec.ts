import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { expandIstioDecision, PolicyRuntime } from '#libs/policy-runtime';
import { toolPath } from '#libs/testing';
import { OpaCliCompiler } from '../compiler/opa-cli.compiler';
import type { PolicyConfig } from '../config';
import { type AuthzCodegenOptions, generateIstioAuthz } from './istio-authz.codegen';
import { type NormalPolicy, normalisePolicy } from './normalise';

const policy = (name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}): NormalPolicy =>
  normalisePolicy({ namespace: 'foo', name, annotations, spec, resourceVersion: 1 }, 'istio-system').policy!;

/** The module generateIstioAuthz makes for one set, compiled by the OPA CLI and loaded. */
describe('generateIstioAuthz', () => {
  let compiler: OpaCliCompiler;
  before(() => {
    Logger.overrideLogger(false);
    compiler = new OpaCliCompiler({ opaPath: toolPath('opa'), compileTimeout: 60_000 } as PolicyConfig);
  });
  const load = async (policies: NormalPolicy[], options: AuthzCodegenOptions = {}) => {
    const generated = generateIstioAuthz(policies, options);
    const { wasm } = await compiler.compile({
      modules: { 'istio_authz.rego': generated.rego },
      entrypoints: [generated.entrypoint],
    });
    const runtime = await PolicyRuntime.load(wasm, { entrypoint: generated.entrypoint });
    return {
      generated,
      decide: (attributes: object) => runtime.evaluate(attributes).result as Record<string, unknown>,
    };
  };
  const request = (extra: object = {}) => ({
    'request.method': 'POST',
    'request.path': '/admin/x',
    'request.headers': {},
    'destination.namespace': 'foo',
    'destination.labels': { app: 'web' },
    ...extra,
  });

  it('names the first DENY policy in set order and its first matching rule; lists AUDIT and CUSTOM hits in order', async () => {
    const never = { to: [{ operation: { methods: ['GET'] } }] };
    const admin = { to: [{ operation: { paths: ['/admin*'] } }] };
    const { decide } = await load([
      policy('a-audit', { action: 'AUDIT', rules: [admin] }),
      policy('b-deny', { action: 'DENY', rules: [never, admin, admin] }),
      policy('c-deny', { action: 'DENY', rules: [admin] }),
      policy('d-custom', { action: 'CUSTOM', provider: { name: 'ext' }, rules: [never, admin] }),
      policy('e-dry', { action: 'DENY', rules: [admin] }, { 'istio.io/dry-run': 'true' }),
    ]);
    const decision = decide(request());
    assert.deepEqual([decision.allowed, decision.policy, decision.ruleIndex], [false, 'foo/b-deny', 1]);
    assert.deepEqual(decision.auditPolicies, [{ policy: 'foo/a-audit', ruleIndex: 0 }]);
    assert.deepEqual(decision.custom, [{ policy: 'foo/d-custom', ruleIndex: 1 }]);
    assert.deepEqual(decision.dryRun, [{ policy: 'foo/e-dry', action: 'DENY', matched: true, ruleIndex: 0 }]);
    const other = decide(request({ 'request.path': '/public' }));
    assert.deepEqual([other.allowed, other.reason], [true, 'no ALLOW policy applies to the workload']);
    assert.deepEqual(other.dryRun, [{ policy: 'foo/e-dry', action: 'DENY', matched: false, ruleIndex: null }]);
  });

  it('leaves the applicable list out of bundles; with nothing else dynamic, the verdicts carry the constant lists', async () => {
    const admin = { to: [{ operation: { paths: ['/admin*'] } }] };
    const deny = policy('b-deny', { action: 'DENY', rules: [admin] });
    const full = await load([deny]);
    const bundled = await load([deny], { applicable: false });
    assert.doesNotMatch(bundled.generated.rego, /object\.union|applicable/);
    const { applicable, ...rest } = full.decide(request());
    assert.deepEqual(applicable, ['foo/b-deny']);
    assert.deepEqual(bundled.decide(request()), rest);
    assert.deepEqual(
      [rest.allowed, rest.policy, rest.ruleIndex, rest.audit, rest.auditPolicies, rest.custom, rest.dryRun],
      [false, 'foo/b-deny', 0, false, [], [], []],
    );
    // An AUDIT policy makes the lists dynamic again.
    const audited = await load([policy('a-audit', { action: 'AUDIT', rules: [admin] }), deny], { applicable: false });
    assert.deepEqual(audited.decide(request()).auditPolicies, [{ policy: 'foo/a-audit', ruleIndex: 0 }]);
    assert.equal(audited.decide(request()).applicable, undefined);
  });

  it('compact decisions index the outcome table; unscoped modules neither check nor read the scope', async () => {
    const admin = { to: [{ operation: { paths: ['/admin*'] } }] };
    const set = [
      policy('a-audit', { action: 'AUDIT', rules: [admin] }),
      policy('b-deny', { action: 'DENY', selector: { matchLabels: { app: 'web' } }, rules: [admin] }),
      policy('c-allow', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }),
    ];
    const full = await load(set);
    const scoped = await load(set, { compact: true });
    const unscoped = await load(set, { compact: true, scoped: false });
    assert.deepEqual(scoped.generated.attributes, [
      'destination.labels',
      'destination.namespace',
      'request.method',
      'request.path',
    ]);
    assert.deepEqual(unscoped.generated.attributes, ['request.method', 'request.path']);
    assert.doesNotMatch(unscoped.generated.rego, /_applies|any_allow|destination/);
    for (const attributes of [request(), request({ 'request.path': '/x' }), request({ 'request.method': 'GET' })]) {
      const { applicable: _, ...expected } = full.decide(attributes);
      const { 'destination.namespace': _ns, 'destination.labels': _labels, ...unscopedInput } = attributes;
      for (const [module, input] of [
        [scoped, attributes],
        [unscoped, unscopedInput],
      ] as const) {
        const compact = module.decide(input) as unknown;
        assert.ok(Array.isArray(compact) && compact.length === 5, JSON.stringify(compact));
        assert.deepEqual(expandIstioDecision(compact, module.generated.outcomes), expected);
      }
    }
    // Without AUDIT, CUSTOM or dry-run policies the decision is [outcome, rule] alone.
    const plain = await load(set.slice(1), { compact: true, scoped: false });
    assert.deepEqual(plain.decide(request()), [0, 0]);
    assert.deepEqual(plain.generated.outcomes[0], {
      allowed: false,
      reason: 'a DENY policy matched',
      policy: 'foo/b-deny',
    });
    assert.deepEqual(plain.decide(request({ 'request.path': '/x' })), [2, -1]);
    assert.deepEqual(plain.generated.outcomes[2], {
      allowed: false,
      reason: 'ALLOW policies apply to the workload but none matched',
      policy: null,
    });
  });

  it('collects the headers conditions read, and keeps any string a policy holds a literal', async () => {
    const odd = 'a"b\\c\n*';
    const { generated, decide } = await load([
      policy('headers', {
        rules: [
          {
            when: [
              { key: 'request.headers[X-Tenant]', values: [odd] },
              { key: 'request.headers[b]', values: ['*'] },
            ],
          },
        ],
      }),
    ]);
    assert.deepEqual(generated.headers, ['b', 'x-tenant']);
    const headers = { 'x-tenant': 'a"b\\c\nsuffix', b: 'present' };
    assert.equal(decide(request({ 'request.headers': headers })).allowed, true);
    assert.equal(decide(request({ 'request.headers': { ...headers, b: '' } })).allowed, false);
  });
  it('lists every test a condition applies, by attribute and header (what a proxy may key kept decisions by)', () => {
    const rule = {
      from: [{ source: { principals: ['*/sa/client'], ipBlocks: ['10.0.0.0/8'] } }],
      to: [{ operation: { methods: ['GET', 'HEAD'], paths: ['/items/*', '/health'], notPaths: ['*.secret'] } }],
      when: [
        { key: 'request.headers[X-Tenant]', values: ['acme', '*'] },
        { key: 'request.auth.claims[iss]', values: ['x'] },
      ],
    };
    const generated = generateIstioAuthz([policy('p', { action: 'ALLOW', rules: [rule, rule] })], { compact: true });
    assert.deepEqual(generated.matchers, {
      attributes: {
        'source.principal': [{ kind: 'suffix', value: '/sa/client' }],
        'source.ip': [{ kind: 'cidr', value: '10.0.0.0/8' }],
        'request.method': [
          { kind: 'exact', value: 'GET' },
          { kind: 'exact', value: 'HEAD' },
        ],
        'request.path': [
          { kind: 'prefix', value: '/items/' },
          { kind: 'exact', value: '/health' },
          { kind: 'suffix', value: '.secret' },
        ],
      },
      headers: {
        'x-tenant': [
          { kind: 'exact', value: 'acme' },
          { kind: 'presence', value: '' },
        ],
      },
    });
    // Claims are lists read through `strings()`: no tests listed, so a proxy keys them by value.
    assert.ok(generated.attributes.includes('request.auth.claims'));
  });
});
