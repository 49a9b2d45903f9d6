import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IstioAttributes } from './istio-attributes';
import { type IstioMatchers, matcherHolds, matcherKey, matcherKeyPlan } from './istio-matchers';

const MATCHERS: IstioMatchers = {
  attributes: {
    'request.path': [
      { kind: 'prefix', value: '/items/' },
      { kind: 'exact', value: '/health' },
    ],
    'request.method': [{ kind: 'exact', value: 'GET' }],
    'source.ip': [{ kind: 'cidr', value: '10.0.0.0/8' }],
    'source.principal': [{ kind: 'suffix', value: '/sa/client' }],
  },
  headers: { 'x-tenant': [{ kind: 'presence', value: '' }] },
};
const ATTRIBUTES = [
  'destination.labels',
  'request.method',
  'request.path',
  'source.ip',
  'source.principal',
  'request.host',
];
const plan = matcherKeyPlan(ATTRIBUTES, ['x-tenant', 'constructor'], MATCHERS);
const input = (extra: Partial<IstioAttributes> = {}, headers: Record<string, string> = {}): IstioAttributes => ({
  'request.headers': headers,
  'request.method': 'GET',
  'request.path': '/items/1',
  'source.principal': 'cluster.local/ns/default/sa/client',
  'destination.labels': { app: 'server' },
  ...extra,
});
const key = (extra?: Partial<IstioAttributes>, headers?: Record<string, string>) =>
  matcherKey(input(extra, headers), plan);

describe('matcherHolds (Istio string matching, as the generated Rego decides it)', () => {
  it('exact, prefix, suffix and presence; CIDR is left to the module', () => {
    assert.equal(matcherHolds({ kind: 'exact', value: 'GET' }, 'GET'), true);
    assert.equal(matcherHolds({ kind: 'exact', value: 'GET' }, 'get'), false);
    assert.equal(matcherHolds({ kind: 'prefix', value: '/a/' }, '/a/b'), true);
    assert.equal(matcherHolds({ kind: 'prefix', value: '/a/' }, '/a'), false);
    assert.equal(matcherHolds({ kind: 'suffix', value: '.css' }, '/x.css'), true);
    assert.equal(matcherHolds({ kind: 'presence', value: '' }, ''), false);
    assert.equal(matcherHolds({ kind: 'presence', value: '' }, 'x'), true);
    assert.equal(matcherHolds({ kind: 'cidr', value: '10.0.0.0/8' }, '10.1.1.1'), undefined);
  });
});

describe('matcherKey (one kept decision for the requests a module cannot tell apart)', () => {
  it('is the same for values passing the same tests, and differs when any test differs', () => {
    assert.equal(key(), key({ 'request.path': '/items/2?x' }));
    assert.equal(key({ 'source.principal': 'td/ns/a/sa/client' }), key());
    assert.notEqual(key(), key({ 'request.path': '/items' }));
    assert.notEqual(key(), key({ 'request.path': '/health' }));
    assert.equal(key({ 'request.path': '/other' }), key({ 'request.path': '/items' }), 'both fail both tests');
    assert.notEqual(key(), key({ 'request.method': 'POST' }));
    assert.notEqual(key(), key({ 'source.principal': 'cluster.local/ns/default/sa/other' }));
    assert.equal(key({}, { 'x-tenant': 'a' }), key({}, { 'x-tenant': 'b' }));
    assert.notEqual(key({}, { 'x-tenant': 'a' }), key({}, { 'x-tenant': '' }));
  });

  it('tells an absent value from a present one, even one failing every test', () => {
    assert.notEqual(key(), key({ 'request.method': undefined }));
    assert.notEqual(key({}, {}), key({}, { 'x-tenant': '' }));
  });

  it('keys by the value itself where tests cannot decide: CIDR, no tests listed, non-ASCII text', () => {
    assert.notEqual(key({ 'source.ip': '10.0.0.1' }), key({ 'source.ip': '10.0.0.2' }), 'CIDR');
    assert.notEqual(key({ 'request.host': 'a' }), key({ 'request.host': 'b' }), 'no tests listed');
    assert.notEqual(key({ 'request.path': '/items/é' }), key({ 'request.path': '/items/è' }), 'non-ASCII');
    assert.equal(key({ 'request.path': '/items/é' }), key({ 'request.path': '/items/é' }));
  });

  it("leaves out the proxy's own attributes, and reads only own properties", () => {
    assert.equal(key({ 'destination.labels': { app: 'other' } }), key());
    assert.equal(
      plan.some((v) => v.attribute === 'destination.labels'),
      false,
    );
    assert.equal(
      key({}, { constructor: 'x' }) === key(),
      false,
      'a header named constructor is a value like any other',
    );
    assert.equal(key({}, {}), key({}, Object.create({ constructor: 'inherited' }) as Record<string, string>));
  });
});
