import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildInput,
  InputError,
  type InputTree,
  inputTree,
  istioAttributes,
  normaliseRequestPath,
  pruneInput,
  socketAddress,
  workloadIdentity,
} from '#libs/policy-runtime';
import type { AuthorizationRequest } from '../dataplane/authorization';
import { BASE, LOCAL } from '../testing/policy-requests';
import {
  attributeSelection,
  flattenHeaders,
  requestAttributes,
  requestInput,
  requestInputParts,
  requestKey,
} from './input';

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

describe('requestKey (what a kept decision is found by)', () => {
  // Requests that differ in one field each, in ways that matter to the attributes and ways that do not.
  const variants: AuthorizationRequest[] = [
    BASE,
    { ...BASE, method: 'GET' },
    { ...BASE, method: 'POST' },
    { ...BASE, path: '/items/x?limit=2' },
    { ...BASE, path: '/items/x' },
    { ...BASE, path: '/items/./x#frag?q' },
    { ...BASE, path: '/items/x#frag?q' },
    { ...BASE, path: '/b/../items/x?limit=1#frag' },
    { ...BASE, path: '/caf%C3%A9?q=1' },
    { ...BASE, host: 'server:8080' },
    { ...BASE, host: '' },
    { ...BASE, host: undefined as unknown as string },
    { ...BASE, host: undefined as unknown as string, headers: { ...BASE.headers, host: 'other:8080' } },
    { ...BASE, headers: { ...BASE.headers, 'x-tenant': 'other' } },
    { ...BASE, headers: { ...BASE.headers, 'x-tenant': ['acme', 'b'] } },
    { ...BASE, headers: { ...BASE.headers, 'x-tenant': 'acme, b' } },
    { ...BASE, headers: { ...BASE.headers, 'X-Tenant': 'late' } },
    { ...BASE, headers: { 'X-Tenant': 'early', ...BASE.headers } },
    { ...BASE, headers: { ...BASE.headers, 'x-other': 'ignored' } },
    { ...BASE, headers: { ...BASE.headers, ':path': '/raw', ':authority': 'h2-host' } },
    { ...BASE, sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/client' },
    { ...BASE, sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/other' },
    { ...BASE, sourcePrincipal: undefined },
    { ...BASE, sourceAddress: '10.9.9.9' },
    { ...BASE, destinationPort: 9090 },
    { ...BASE, protocol: 'HTTP/2', destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/x' },
  ];
  const selections: [string, string[] | undefined, string[]][] = [
    ['every attribute, headers named', undefined, ['x-tenant', ':path', ':authority', ':method']],
    ['every attribute, no header', undefined, []],
    ['a workload bundle reading principal and path', ['source.principal', 'request.path'], ['x-tenant']],
    ['namespace, ip and host', ['source.namespace', 'source.ip', 'request.host'], []],
    ['method and port only', ['request.method', 'destination.port'], []],
    ['nothing', [], []],
  ];
  for (const [name, names, headers] of selections) {
    it(`gives equal keys only to requests with equal attributes: ${name}`, () => {
      const selected = names ? attributeSelection(names) : undefined;
      const seen = new Map<string, string>();
      let shared = 0;
      for (const request of variants) {
        const key = requestKey(request, headers, selected);
        const attributes = JSON.stringify(requestAttributes(request, LOCAL, headers, selected));
        const before = seen.get(key);
        if (before === undefined) seen.set(key, attributes);
        else {
          shared += 1;
          assert.equal(attributes, before, `key ${key}`);
        }
      }
      // Requests that differ only in what the module does not read share a key.
      assert.ok(shared > 0);
    });
  }

  it('tells apart requests whose attributes differ in what the module reads', () => {
    const selected = attributeSelection(['source.principal', 'request.path']);
    const key = (request: AuthorizationRequest) => requestKey(request, ['x-tenant'], selected);
    assert.notEqual(key(BASE), key({ ...BASE, path: '/items/y' }));
    assert.notEqual(key(BASE), key({ ...BASE, sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/other' }));
    assert.notEqual(key(BASE), key({ ...BASE, headers: { ...BASE.headers, 'x-tenant': 'other' } }));
    assert.equal(
      key(BASE),
      key({ ...BASE, path: '/a/../items/./x?limit=9', method: 'POST', sourceAddress: '10.0.0.9' }),
    );
  });

  it('throws InputError exactly where requestAttributes does, whatever the module reads', () => {
    const throws = (f: () => unknown) => {
      try {
        f();
        return false;
      } catch (error) {
        assert.ok(error instanceof InputError);
        return true;
      }
    };
    const paths = ['/items/%E0%A4%A', '/items/x?q=%E0%A4%A', '/%ZZ/../items', '/caf%C3%A9', '/items/x'];
    for (const path of paths) {
      for (const names of [[], ['request.path'], undefined]) {
        const request = { ...BASE, path };
        const selected = names ? attributeSelection(names) : undefined;
        const expected = throws(() => requestAttributes(request, LOCAL, [], selected));
        assert.equal(
          throws(() => requestKey(request, [], selected)),
          expected,
          `${path} ${String(names)}`,
        );
      }
    }
    assert.ok(throws(() => requestKey({ ...BASE, path: '/items/%E0%A4%A' }, [], attributeSelection([]))));
  });
});

describe('requestInputParts (what a Rego policy that reads named parts is evaluated on)', () => {
  const TIME = new Date('2030-01-02T03:04:05.678Z');
  const requests: AuthorizationRequest[] = [
    BASE,
    { ...BASE, sourcePrincipal: undefined, sourceAddress: undefined, destinationPort: undefined },
    { ...BASE, sourcePrincipal: 'spiffe://td/custom', destinationPrincipal: undefined },
    { ...BASE, headers: { 'X-Tenant': 'a', 'x-tenant': ['b', 'c'], ':path': '/raw' } },
    { ...BASE, path: '/caf%C3%A9/x?q=%ZZ&q=1&r' },
    { ...BASE, path: '/' },
  ];
  const trees: string[][][] = [
    [
      ['attributes', 'source', 'principal'],
      ['attributes', 'request', 'http', 'method'],
    ],
    [['parsed_path'], ['parsed_query', 'q']],
    [
      ['bowline', 'destination'],
      ['bowline', 'source', 'namespace'],
    ],
    [['attributes']],
    [
      ['attributes', 'request', 'time'],
      ['attributes', 'request', 'http', 'headers', 'x-tenant'],
    ],
    [['version'], ['parsed_body'], ['truncated_body']],
    [
      ['absent', 'x'],
      ['attributes', 'destination', 'address'],
    ],
  ];

  it('equals the whole input document cut down to the parts, key order included', () => {
    for (const request of requests)
      for (const paths of trees) {
        const tree = inputTree(paths) as Exclude<InputTree, true>;
        const parts = requestInputParts(request, LOCAL, TIME, tree);
        const whole = pruneInput(requestInput(request, LOCAL, TIME), tree);
        assert.equal(
          JSON.stringify(parts),
          JSON.stringify(whole),
          `${JSON.stringify(paths)} of ${JSON.stringify(request)}`,
        );
      }
  });

  it('throws InputError where requestInput does (an invalid escape in the path), whatever the parts', () => {
    const bad = { ...BASE, path: '/items/%E0%A4%A' };
    assert.throws(() => requestInput(bad, LOCAL, TIME), InputError);
    for (const paths of trees)
      assert.throws(
        () => requestInputParts(bad, LOCAL, TIME, inputTree(paths) as Exclude<InputTree, true>),
        InputError,
      );
  });

  it('leaves requestInput as it was built before it was split into parts (buildInput, then the peers and bowline)', () => {
    const before = (request: AuthorizationRequest) => {
      const input = buildInput({
        time: TIME,
        source: request.sourcePrincipal,
        destination: request.destinationPrincipal,
        method: request.method,
        path: normaliseRequestPath(request.path),
        host: request.host,
        headers: flattenHeaders(request.headers),
        protocol: request.protocol,
      });
      const attributes = input.attributes as Record<string, object | undefined>;
      if (request.sourceAddress)
        attributes.source = { ...attributes.source, address: socketAddress(request.sourceAddress, 0) };
      if (request.destinationPort)
        attributes.destination = {
          ...attributes.destination,
          address: socketAddress(undefined, request.destinationPort),
        };
      input.bowline = {
        source: request.sourcePrincipal ? workloadIdentity(request.sourcePrincipal) : {},
        destination: {
          ...(request.destinationPrincipal ? workloadIdentity(request.destinationPrincipal) : {}),
          namespace: LOCAL.namespace,
          labels: LOCAL.labels,
          ...(request.destinationPort ? { port: String(request.destinationPort) } : {}),
        },
      };
      return input;
    };
    for (const request of requests)
      assert.equal(JSON.stringify(requestInput(request, LOCAL, TIME)), JSON.stringify(before(request)));
  });
});
