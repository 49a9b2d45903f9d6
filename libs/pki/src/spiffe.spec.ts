import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PkiError } from './errors';
import { formatSpiffeId, isSpiffeId, parseSpiffeId } from './spiffe';

describe('parseSpiffeId', () => {
  it('parses a Kubernetes workload identity', () => {
    assert.deepEqual(parseSpiffeId('spiffe://cluster.local/ns/default/sa/bookinfo-productpage'), {
      trustDomain: 'cluster.local',
      namespace: 'default',
      serviceAccount: 'bookinfo-productpage',
    });
  });

  it('accepts the full trust-domain alphabet and dotted service accounts', () => {
    const id = parseSpiffeId('spiffe://my_td-1.example.org/ns/a1/sa/svc.v2-x');
    assert.equal(id.trustDomain, 'my_td-1.example.org');
    assert.equal(id.serviceAccount, 'svc.v2-x');
  });

  it('round-trips through formatSpiffeId', () => {
    const text = 'spiffe://td/ns/n/sa/s';
    assert.equal(formatSpiffeId(parseSpiffeId(text)), text);
  });

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['http://cluster.local/ns/a/sa/b', /does not start with "spiffe:\/\/"/],
    ['SPIFFE://cluster.local/ns/a/sa/b', /does not start/],
    ['spiffe:///ns/a/sa/b', /trust domain is empty/],
    ['spiffe://Cluster.local/ns/a/sa/b', /trust domain "Cluster.local"/],
    ['spiffe://cluster.local:8080/ns/a/sa/b', /trust domain/],
    ['spiffe://user@cluster.local/ns/a/sa/b', /trust domain/],
    ['spiffe://cluster.local', /path "" is not/],
    ['spiffe://cluster.local/', /path/],
    ['spiffe://cluster.local/ns/a/sa/b/', /path/],
    ['spiffe://cluster.local/ns/a/sa/b/c', /path/],
    ['spiffe://cluster.local/ns//sa/b', /namespace is empty/],
    ['spiffe://cluster.local/ns/a/sa/', /service account is empty/],
    ['spiffe://cluster.local/ns/./sa/b', /namespace "."/],
    ['spiffe://cluster.local/ns/a/sa/..', /service account ".."/],
    ['spiffe://cluster.local/ns/a.b/sa/c', /namespace "a.b" is not a DNS-1123 label/],
    ['spiffe://cluster.local/ns/-a/sa/c', /namespace/],
    ['spiffe://cluster.local/ns/a/sa/c-', /service account/],
    ['spiffe://cluster.local/ns/a/sa/c..d', /service account/],
    ['spiffe://cluster.local/ns/A/sa/c', /namespace/],
    ['spiffe://cluster.local/ns/a%20b/sa/c', /namespace/],
    ['spiffe://cluster.local/ns/a/sa/c?x=1', /service account/],
    ['spiffe://cluster.local/ns/a/sa/c#f', /service account/],
    [`spiffe://cluster.local/ns/${'a'.repeat(64)}/sa/c`, /longer than 63/],
    [`spiffe://cluster.local/ns/a/sa/${'a'.repeat(254)}`, /longer than 253/],
    [`spiffe://${'a'.repeat(256)}/ns/a/sa/b`, /trust domain is longer than 255/],
  ];
  for (const [text, message] of invalid) {
    it(`refuses ${JSON.stringify(text.length > 60 ? text.slice(0, 60) + '...' : text)}`, () => {
      assert.throws(
        () => parseSpiffeId(text),
        (error: unknown) =>
          error instanceof PkiError && error.reason === 'SPIFFE_ID_INVALID' && message.test(error.message),
      );
      assert.equal(isSpiffeId(text), false);
    });
  }

  it('accepts the maximum lengths', () => {
    assert.ok(
      isSpiffeId(
        `spiffe://td/ns/${'a'.repeat(63)}/sa/${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(61)}`,
      ),
    );
  });
});

describe('formatSpiffeId', () => {
  it('validates every part', () => {
    assert.throws(
      () => formatSpiffeId({ trustDomain: 'td', namespace: 'a/b', serviceAccount: 's' }),
      /namespace "a\/b"/,
    );
  });
});
