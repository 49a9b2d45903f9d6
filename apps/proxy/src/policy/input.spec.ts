import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError, istioAttributes } from '#libs/policy-runtime';
import type { AuthorizationRequest } from '../dataplane/authorization';
import { attributeSelection, requestAttributes, requestInput } from './input';

const LOCAL = { namespace: 'default', labels: { app: 'server', version: 'v1' } };
const BASE: AuthorizationRequest = {
  method: 'get',
  path: '/a/../items/./x?limit=1#frag',
  host: 'Server.Default:8080',
  headers: { host: 'server:8080', 'x-tenant': 'acme', authorization: 'Bearer t' },
  protocol: 'HTTP/1.1',
  sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/client',
  sourceAddress: '10.1.2.3',
  destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/server',
  destinationPort: 8080,
};

/** What the module got before: the attributes read from the whole opa-envoy input document. */
const viaInput = (request: AuthorizationRequest, headers: string[]) =>
  istioAttributes(requestInput(request, LOCAL), headers);

describe('requestAttributes (the module input without the opa-envoy document)', () => {
  const cases: [string, AuthorizationRequest, string[]][] = [
    ['an mTLS request with the headers policies name', BASE, ['x-tenant', 'authorization', 'x-absent']],
    ['no header named', BASE, []],
    [
      'plaintext: no principal, no address, no port',
      { ...BASE, sourcePrincipal: undefined, sourceAddress: undefined, destinationPort: undefined },
      ['x-tenant'],
    ],
    ['a principal that is not a Kubernetes SPIFFE ID', { ...BASE, sourcePrincipal: 'spiffe://td/custom' }, []],
    ['an empty principal and host', { ...BASE, sourcePrincipal: '', host: '' }, [':authority']],
    [
      'repeated and mixed-case headers, and pseudo-headers',
      { ...BASE, headers: { 'X-Tenant': 'a', 'x-tenant': ['b', 'c'], ':path': '/raw' } },
      ['x-tenant', ':method', ':path', ':authority'],
    ],
    ['an escaped path', { ...BASE, path: '/caf%C3%A9/x?q=%ZZ' }, []],
  ];
  for (const [name, request, headers] of cases) {
    it(`equals the attributes of the input document: ${name}`, () => {
      assert.deepEqual(requestAttributes(request, LOCAL, headers), viaInput(request, headers));
    });
  }

  it("with a bundle's attribute list, sets only those (and the headers named)", () => {
    const names = ['source.principal', 'request.path', 'request.auth.claims'];
    const selected = requestAttributes(BASE, LOCAL, ['x-tenant'], attributeSelection(names));
    const whole = viaInput(BASE, ['x-tenant']);
    assert.deepEqual(selected, {
      'request.headers': { 'x-tenant': 'acme' },
      'source.principal': whole['source.principal'],
      'request.path': '/items/x',
    });
    assert.deepEqual(requestAttributes(BASE, LOCAL, [], attributeSelection([])), { 'request.headers': {} });
  });

  it('throws InputError where requestInput does (an invalid escape in the path), whatever the module reads', () => {
    const bad = { ...BASE, path: '/items/%E0%A4%A' };
    assert.throws(() => requestInput(bad, LOCAL), InputError);
    assert.throws(() => requestAttributes(bad, LOCAL, []), InputError);
    assert.throws(() => requestAttributes(bad, LOCAL, [], attributeSelection([])), InputError);
  });

  it('dates the input document with the time given', () => {
    const time = new Date('2026-01-02T03:04:05.678Z');
    const input = requestInput(BASE, LOCAL, time) as { attributes: { request: { time: string } } };
    assert.equal(input.attributes.request.time, '2026-01-02T03:04:05.678Z');
  });
});
