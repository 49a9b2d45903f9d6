import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkRequestToInput } from './check-request';
import { buildInput, InputError, normaliseRequestPath, parsePathAndQuery } from './input';

describe('input document (opa-envoy-plugin)', () => {
  it('splits and decodes the path, and collects repeated query parameters', () => {
    assert.deepEqual(parsePathAndQuery('/a/b%2Fc/?q=1&q=two+words&flag'), {
      parsedPath: ['a', 'b', 'c', ''],
      parsedQuery: { q: ['1', 'two words'], flag: [''] },
    });
    assert.deepEqual(parsePathAndQuery('/').parsedPath, ['']);
    assert.throws(() => parsePathAndQuery('/bad%zz'), InputError);
  });

  it('maps a proto-loader CheckRequest to protobuf JSON names, leaving defaults out', () => {
    const input = checkRequestToInput({
      attributes: {
        source: {
          address: {
            address: 'socket_address',
            socket_address: { address: '10.1.2.3', port_value: 5000, protocol: 0 },
          },
          principal: 'spiffe://cluster.local/ns/a/sa/b',
          service: '',
          labels: {},
          certificate: '',
        },
        destination: null,
        request: {
          time: { seconds: '1700000000', nanos: 5000000 },
          http: {
            id: '7',
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            path: '/login?next=%2Fhome',
            host: 'app',
            scheme: '',
            query: '',
            fragment: '',
            size: '13',
            protocol: 'HTTP/1.1',
            body: 'user=al+ice&x=1',
            raw_body: Buffer.alloc(0),
          },
        },
        context_extensions: { route: 'login' },
        metadata_context: {
          filter_metadata: { f: { fields: { k: { kind: 'string_value', string_value: 'v' } } } },
        },
        tls_session: null,
      },
    });
    assert.deepEqual(input.attributes, {
      source: {
        address: { socketAddress: { address: '10.1.2.3', portValue: 5000 } },
        principal: 'spiffe://cluster.local/ns/a/sa/b',
      },
      request: {
        time: '2023-11-14T22:13:20.005Z',
        http: {
          id: '7',
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          path: '/login?next=%2Fhome',
          host: 'app',
          size: '13',
          protocol: 'HTTP/1.1',
          body: 'user=al+ice&x=1',
        },
      },
      contextExtensions: { route: 'login' },
      metadataContext: { filterMetadata: { f: { k: 'v' } } },
    });
    assert.deepEqual(input.parsed_path, ['login']);
    assert.deepEqual(input.parsed_query, { next: ['/home'] });
    assert.deepEqual(input.parsed_body, { user: ['al ice'], x: ['1'] });
    assert.deepEqual(input.version, { encoding: 'protojson', ext_authz: 'v3' });
    assert.deepEqual((input.bowline as any).source, {
      principal: 'spiffe://cluster.local/ns/a/sa/b',
      trustDomain: 'cluster.local',
      namespace: 'a',
      serviceAccount: 'b',
    });
  });

  it('builds the same shape from an HTTP request description, marking truncated bodies', () => {
    const input = buildInput({
      method: 'put',
      path: '/x',
      host: 'svc',
      headers: { 'Content-Type': 'application/json', 'Content-Length': '100' },
      body: '{"a":',
      time: new Date(0),
    });
    const http = (input.attributes as any).request.http;
    assert.equal(http.method, 'PUT');
    assert.equal(http.headers[':authority'], 'svc');
    assert.equal(http.headers['content-type'], 'application/json');
    assert.equal(input.truncated_body, true);
    assert.equal(input.parsed_body, null);
  });
});

describe('normaliseRequestPath', () => {
  it('removes dot segments only; a path without any, and the query, are kept as they are', () => {
    const cases: [string, string][] = [
      ['/items?limit=10', '/items?limit=10'],
      ['/a//b/', '/a//b/'],
      ['/.well-known/x', '/.well-known/x'],
      ['/a/./b/../c', '/a/c'],
      ['/a/..', '/'],
      ['/x?next=/../admin', '/x?next=/../admin'],
      ['/a/b/..#/./f', '/a/#/./f'],
      ['relative/../x', '/x'],
      ['', '/'],
    ];
    for (const [path, normal] of cases) assert.equal(normaliseRequestPath(path), normal, path);
  });
});
