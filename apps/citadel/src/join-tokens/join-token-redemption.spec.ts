import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignGrants, type BatchRedeemedRow, batchClock } from './join-token-redemption';

const row = (hash: string, before: number, granted: number, maxUses: number): BatchRedeemedRow => ({
  id: `id-${hash}`,
  token_hash: hash,
  namespace: 'shop',
  service_account: `sa-${hash}`,
  token_prefix: `bjt_${hash}`,
  before,
  granted,
  max_uses: maxUses,
});

const at = new Date('2030-01-01T00:00:00.000Z');
const request = (tokenHash: string, now = at) => ({ tokenHash, now });

describe('assignGrants', () => {
  it('hands each token its granted uses, first come first served, numbering them', () => {
    const requests = [request('a'), request('b'), request('a'), request('a'), request('c')];
    const grants = assignGrants(requests, [row('a', 3, 2, 5), row('b', 0, 1, 1)]);
    assert.deepEqual(
      grants.map((g) => (g.kind === 'granted' ? `${g.use.serviceAccount}:${g.use.uses}/${g.use.maxUses}` : g.kind)),
      ['sa-a:4/5', 'sa-b:1/1', 'sa-a:5/5', 'alone', 'alone'],
    );
    assert.deepEqual(grants[0], {
      kind: 'granted',
      use: {
        id: 'id-a',
        namespace: 'shop',
        serviceAccount: 'sa-a',
        tokenPrefix: 'bjt_a',
        uses: 4,
        maxUses: 5,
      },
    });
  });

  it('sends a request whose token the statement did not return to be retried alone', () => {
    assert.deepEqual(assignGrants([request('x'), request('y')], []), [{ kind: 'alone' }, { kind: 'alone' }]);
  });
});

describe('batchClock', () => {
  it('checks a batch at the latest clock among its requests', () => {
    const later = new Date(at.getTime() + 1500);
    assert.equal(batchClock([request('a', later), request('b', at)]).getTime(), later.getTime());
  });
});
