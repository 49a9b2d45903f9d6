import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError, type InputTree, inputTree } from '#libs/policy-runtime';
import type { AuthorizationRequest } from '../dataplane/authorization';
import { BASE, LOCAL } from '../testing/policy-requests';
import { requestInput, requestInputParts } from './input';
import { regoKeyPlan, regoRequestKey } from './rego-key';

const TIME = Date.parse('2030-01-02T03:04:05.678Z');
const NO_HOST = undefined as unknown as string;

/** Requests (with their arrival) that differ from BASE in one field each, in ways the parts see and ways they do not. */
const variants: [AuthorizationRequest, number][] = [
  ...(
    [
      BASE,
      { ...BASE, method: 'GET' },
      { ...BASE, method: 'POST' },
      { ...BASE, path: '/items/x?limit=1#frag' },
      { ...BASE, path: '/items/x?limit=2' },
      { ...BASE, path: '/items/x' },
      { ...BASE, path: '/b/../items/x?limit=1#frag' },
      { ...BASE, path: '/caf%C3%A9?q=1&q=2' },
      { ...BASE, host: 'server:8080' },
      { ...BASE, host: '' },
      { ...BASE, host: NO_HOST },
      { ...BASE, host: NO_HOST, headers: { ...BASE.headers, host: 'other:8080' } },
      { ...BASE, host: NO_HOST, headers: { ...BASE.headers, ':authority': 'h2-host' } },
      { ...BASE, headers: { ...BASE.headers, 'x-tenant': 'other' } },
      { ...BASE, headers: { ...BASE.headers, 'x-tenant': ['acme', 'b'] } },
      { ...BASE, headers: { ...BASE.headers, 'x-tenant': 'acme, b' } },
      { ...BASE, headers: { ...BASE.headers, 'X-Tenant': 'late' } },
      { ...BASE, headers: { 'X-Tenant': 'early', ...BASE.headers } },
      { ...BASE, headers: { ...BASE.headers, 'x-other': 'ignored' } },
      { ...BASE, headers: { ...BASE.headers, ':path': '/raw', ':authority': 'h2-host', ':method': 'PUT' } },
      { ...BASE, protocol: 'HTTP/2' },
      { ...BASE, sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/client' },
      { ...BASE, sourcePrincipal: 'spiffe://td/custom' },
      { ...BASE, sourcePrincipal: '' },
      { ...BASE, sourcePrincipal: undefined },
      { ...BASE, sourcePrincipal: undefined, sourceAddress: undefined },
      { ...BASE, sourceAddress: '10.9.9.9' },
      { ...BASE, sourceAddress: undefined },
      { ...BASE, destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/x' },
      { ...BASE, destinationPrincipal: undefined },
      { ...BASE, destinationPrincipal: undefined, destinationPort: undefined },
      { ...BASE, destinationPort: 9090 },
    ] as AuthorizationRequest[]
  ).map((request): [AuthorizationRequest, number] => [request, TIME]),
  [BASE, TIME + 1],
  [{ ...BASE, path: '/items/x' }, TIME + 60_000],
];

/** Every part of `value` (each key path into its objects), and below each object a key it lacks. */
function partsOf(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const out: string[][] = [[...prefix, 'absent-key']];
  for (const [key, sub] of Object.entries(value)) out.push([...prefix, key], ...partsOf(sub, [...prefix, key]));
  return out;
}

describe('regoRequestKey (what a kept Rego decision is found by, before its parts are built)', () => {
  // Every part of a document built from requests that set every field, one at a time, and some sets of parts.
  const everything = [
    ...partsOf(requestInput(BASE, LOCAL, new Date(TIME))),
    ...partsOf(requestInput({ ...BASE, headers: { ...BASE.headers, ':path': '/raw' } }, LOCAL, new Date(TIME))),
  ];
  const trees: string[][][] = [
    ...everything.map((path) => [path]),
    [['attributes', 'source', 'principal'], ['attributes', 'request', 'http', 'method'], ['parsed_path']],
    [
      ['attributes', 'request', 'http', 'headers', 'X-Tenant'],
      ['attributes', 'request', 'http', 'headers', ':authority'],
      ['bowline', 'source', 'namespace'],
    ],
    [['attributes', 'request', 'http', 'headers', ':method', 'x']],
    [['attributes', 'request', 'http', 'path', 'x']],
  ];

  it('gives equal keys only to requests whose parts are equal, for every part of the document', () => {
    let shared = 0;
    for (const paths of trees) {
      const tree = inputTree(paths) as Exclude<InputTree, true>;
      const plan = regoKeyPlan(tree);
      const seen = new Map<string, string>();
      for (const [request, time] of variants) {
        const key = regoRequestKey(request, time, plan);
        const parts = JSON.stringify(requestInputParts(request, LOCAL, new Date(time), tree));
        const before = seen.get(key);
        if (before === undefined) seen.set(key, parts);
        else {
          shared += 1;
          assert.equal(parts, before, `${JSON.stringify(paths)}: key ${key}`);
        }
      }
    }
    assert.ok(shared > trees.length * 10, `${shared} shared keys`);
  });

  it('reads only the fields the parts come from: a request differing elsewhere, or at another time, shares the key', () => {
    const plan = regoKeyPlan(
      inputTree([
        ['attributes', 'source', 'principal'],
        ['attributes', 'request', 'http', 'headers', 'x-tenant'],
        ['parsed_path'],
      ]) as Exclude<InputTree, true>,
    );
    const key = (request: AuthorizationRequest, time = TIME) => regoRequestKey(request, time, plan);
    assert.equal(
      key(BASE),
      key(
        { ...BASE, method: 'POST', host: 'x', sourceAddress: '10.0.0.9', headers: { ...BASE.headers, 'x-id': '7' } },
        TIME + 5_000,
      ),
    );
    assert.notEqual(key(BASE), key({ ...BASE, path: '/items/y' }));
    assert.notEqual(key(BASE), key({ ...BASE, sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/other' }));
    assert.notEqual(key(BASE), key({ ...BASE, headers: { ...BASE.headers, 'x-tenant': 'other' } }));
    // The request's time is a part like any other.
    const timed = regoKeyPlan(inputTree([['attributes', 'request', 'time']]) as Exclude<InputTree, true>);
    assert.notEqual(regoRequestKey(BASE, TIME, timed), regoRequestKey(BASE, TIME + 1, timed));
  });

  it('throws InputError exactly where requestInputParts does (an invalid escape in the path), whatever the parts', () => {
    const throws = (f: () => unknown) => {
      try {
        f();
        return false;
      } catch (error) {
        assert.ok(error instanceof InputError);
        return true;
      }
    };
    const paths = [
      '/items/%E0%A4%A',
      '/items/x?q=%E0%A4%A',
      '/items/x?q=%ZZ',
      '/%ZZ/../items',
      '/caf%C3%A9',
      '/items/x',
    ];
    for (const path of paths)
      for (const parts of [[['bowline', 'source']], [['parsed_query']], [['attributes', 'request', 'time']]]) {
        const tree = inputTree(parts) as Exclude<InputTree, true>;
        const request = { ...BASE, path };
        assert.equal(
          throws(() => regoRequestKey(request, TIME, regoKeyPlan(tree))),
          throws(() => requestInputParts(request, LOCAL, new Date(TIME), tree)),
          `${path} ${JSON.stringify(parts)}`,
        );
      }
    assert.ok(throws(() => regoRequestKey({ ...BASE, path: '/items/%E0%A4%A' }, TIME, regoKeyPlan(new Map()))));
  });
});
