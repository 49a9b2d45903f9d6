import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AnalyzedResource, analyze, qualify } from './analyzer';

const resource = (
  kind: AnalyzedResource['kind'],
  name: string,
  spec: unknown,
  namespace = 'default',
): AnalyzedResource => ({
  kind,
  namespace,
  name,
  object: { apiVersion: 'x', kind, metadata: { name, namespace }, spec },
});

describe('analyze', () => {
  it('resolves hosts from ServiceEntries and WorkloadEntry service labels', () => {
    const resources = [
      resource('ServiceEntry', 'ext', { hosts: ['*.example.com'] }),
      resource('WorkloadEntry', 'r1', { address: '10.0.0.1', labels: { app: 'reviews', version: 'v1' } }, 'bookinfo'),
      resource(
        'DestinationRule',
        'reviews',
        { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] },
        'bookinfo',
      ),
      resource('VirtualService', 'vs', {
        hosts: ['x'],
        http: [
          {
            route: [
              { destination: { host: 'api.example.com' }, weight: 50 },
              { destination: { host: 'reviews.bookinfo.svc.cluster.local', subset: 'v1' }, weight: 50 },
            ],
          },
        ],
      }),
    ];
    assert.deepEqual(analyze({ resources, trustDomain: 'cluster.local' }), []);
  });

  it('qualifies short host names in the namespace of the rule', () => {
    assert.equal(qualify('reviews', 'bookinfo'), 'reviews.bookinfo.svc.cluster.local');
    assert.equal(qualify('reviews.bookinfo', 'x'), 'reviews.bookinfo.svc.cluster.local');
    assert.equal(qualify('api.example.com', 'x'), 'api.example.com');
  });

  it('flags only the namespace asked for, while resolving across all', () => {
    const resources = [
      resource('PeerAuthentication', 'a', {}, 'one'),
      resource('PeerAuthentication', 'b', { mtls: { mode: 'STRICT' } }, 'one'),
      resource('PeerAuthentication', 'c', { selector: { matchLabels: { app: 'x' } } }, 'two'),
      resource('PeerAuthentication', 'd', {}, 'two'),
    ];
    const findings = analyze({ resources, trustDomain: 'cluster.local', namespace: 'one' });
    assert.deepEqual(
      findings.map((f) => `${f.code} ${f.name}`),
      ['BWL0001 a', 'BWL0001 b'],
    );
    assert.deepEqual(analyze({ resources, trustDomain: 'cluster.local', namespace: 'two' }), []);
  });
});
