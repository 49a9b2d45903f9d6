import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildInput, socketAddress } from './input';
import { istioAttributes } from './istio-attributes';

describe('istioAttributes', () => {
  const input = () => {
    const doc = buildInput({
      source: 'spiffe://cluster.local/ns/default/sa/sleep',
      method: 'GET',
      path: '/info?x=/y',
      host: 'HttpBin.Foo',
      headers: { 'x-tenant': 'acme', cookie: 'secret' },
    });
    (doc.attributes as Record<string, unknown>).source = {
      principal: 'spiffe://cluster.local/ns/default/sa/sleep',
      address: socketAddress('10.1.2.3', 0),
    };
    doc.bowline = {
      source: { namespace: 'default' },
      destination: { namespace: 'foo', labels: { app: 'httpbin' }, port: '8000' },
    };
    return doc;
  };

  it('reads the attributes Istio conditions name, with only the headers asked for', () => {
    assert.deepEqual(istioAttributes(input(), ['x-tenant', 'x-absent']), {
      'source.principal': 'cluster.local/ns/default/sa/sleep',
      'source.namespace': 'default',
      'source.ip': '10.1.2.3',
      'remote.ip': '10.1.2.3',
      'destination.port': '8000',
      'request.host': 'httpbin.foo',
      'request.method': 'GET',
      'request.path': '/info',
      'request.headers': { 'x-tenant': 'acme' },
      'destination.namespace': 'foo',
      'destination.labels': { app: 'httpbin' },
    });
  });

  it('leaves out what the request does not have; the original client IP wins over the peer', () => {
    const doc = input();
    (doc.bowline as { source: object }).source = { remoteIp: '203.0.113.9' };
    (doc.attributes as { source: object }).source = { address: socketAddress('10.1.2.3', 0) };
    (doc.bowline as { request?: object }).request = { auth: { audiences: ['a', 1, 'b'], claims: { iss: 'x' } } };
    const attributes = istioAttributes(doc, []);
    assert.equal('source.principal' in attributes, false);
    assert.equal('source.namespace' in attributes, false);
    assert.equal(attributes['remote.ip'], '203.0.113.9');
    assert.deepEqual(attributes['request.auth.audiences'], ['a', 'b']);
    assert.deepEqual(attributes['request.auth.claims'], { iss: 'x' });
    assert.deepEqual(attributes['request.headers'], {});
  });
});
