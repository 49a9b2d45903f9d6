import { Logger, type LoggerService } from '@nestjs/common';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { createDataSource } from '#libs/db';
import { BowlineError } from '#libs/errors';
import { createTestDatabase, type TestDatabase } from '#libs/testing';
import { ENTITIES, MIGRATIONS } from '../../../../migrations';
import { BATCH_REDEEM_SQL } from './join-token-redemption';
import { JoinTokensService } from './join-tokens.service';

const HOUR = 3_600_000;

/** A refusal as the caller sees it: 401 / gRPC UNAUTHENTICATED with this message. */
function refused(message: RegExp | string) {
  return (error: unknown) => {
    assert.ok(error instanceof BowlineError, `expected a BowlineError, got ${String(error)}`);
    assert.equal(error.kind.httpStatus, 401);
    assert.equal(error.kind.grpcStatus, 16);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  };
}

describe('JoinTokensService', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let service: JoinTokensService;
  const logs: string[] = [];
  const secrets: string[] = [];

  before(async () => {
    const capture = (...args: unknown[]) => void logs.push(JSON.stringify(args));
    const logger: LoggerService = { log: capture, warn: capture, error: capture, debug: capture, verbose: capture };
    Logger.overrideLogger(logger);
    db = await createTestDatabase();
    await db.migrate();
    dataSource = createDataSource({
      url: db.url,
      entities: ENTITIES,
      migrations: MIGRATIONS,
      applicationName: 'bowline-test',
      poolSize: 12,
    });
    await dataSource.initialize();
    service = new JoinTokensService(dataSource);
  });
  after(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  const mint = async (overrides: Partial<Parameters<JoinTokensService['mint']>[0]> = {}, now?: Date) => {
    const params = { namespace: 'payments', serviceAccount: 'api', ttlSeconds: 3600, maxUses: 1, ...overrides };
    const minted = await service.mint(params, now);
    secrets.push(minted.token);
    return minted;
  };

  it('mints a secret that is shown once and stored only as its hash', async () => {
    const now = new Date('2030-01-02T03:04:05.000Z');
    const { token, view } = await mint({ createdBy: '00000000-0000-4000-8000-000000000001', maxUses: 2 }, now);
    assert.match(token, /^bjt_[A-Za-z0-9_-]{43}$/);
    assert.equal(view.tokenPrefix, token.slice(0, 12));
    assert.deepEqual(
      { ...view, id: undefined },
      {
        id: undefined,
        namespace: 'payments',
        serviceAccount: 'api',
        spiffeIdPath: 'ns/payments/sa/api',
        tokenPrefix: token.slice(0, 12),
        maxUses: 2,
        uses: 0,
        expiresAt: '2030-01-02T04:04:05.000Z',
        revokedAt: null,
        lastUsedAt: null,
        createdAt: '2030-01-02T03:04:05.000Z',
        createdBy: '00000000-0000-4000-8000-000000000001',
      },
    );
    const rows = await db.query('SELECT * FROM citadel_join_tokens WHERE id = $1', [view.id]);
    assert.equal(rows.length, 1);
    const stored = JSON.stringify(rows[0]);
    assert.ok(!stored.includes(token), 'the secret is not stored');
    assert.ok(!stored.includes(token.slice(12)), 'no part of the secret past the display prefix is stored');
    assert.match(String(rows[0]!.token_hash), /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(await service.list()).includes(String(rows[0]!.token_hash)), 'views never show hashes');
  });

  it('refuses to mint for a name that cannot be in a SPIFFE ID', async () => {
    await assert.rejects(
      mint({ namespace: 'Payments', serviceAccount: 'a/b', maxUses: 0 }),
      (error: unknown) =>
        error instanceof BowlineError &&
        error.kind.httpStatus === 400 &&
        error.errors.map((e) => e.path).join() === 'namespace,serviceAccount,maxUses',
    );
  });

  it('redeems a token for the identity it is bound to, counting the use', async () => {
    const { token, view } = await mint({ namespace: 'shop', serviceAccount: 'checkout', maxUses: 2 });
    const now = new Date(Date.now() + 1000);
    assert.deepEqual(await service.redeem(token, now), {
      tokenId: view.id,
      namespace: 'shop',
      serviceAccount: 'checkout',
    });
    const [listed] = await service.list({ namespace: 'shop' });
    assert.equal(listed!.uses, 1);
    assert.equal(listed!.lastUsedAt, now.toISOString());
  });

  it('lets concurrent redemptions succeed exactly maxUses times', async () => {
    const { token, view } = await mint({ maxUses: 3 });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => service.redeem(token)));
    const succeeded = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(succeeded.length, 3);
    assert.equal(failed.length, 7);
    for (const failure of failed) {
      refused(`join token ${view.tokenPrefix}… has been used 3 of 3 times`)(failure.reason);
    }
    const [row] = await db.query<{ uses: number }>('SELECT uses FROM citadel_join_tokens WHERE id = $1', [view.id]);
    assert.equal(row!.uses, 3);
  });

  it('counts concurrent redemptions of many tokens together, refusing each one over its limit with the reason', async () => {
    const once = await mint({ serviceAccount: 'once', maxUses: 1 });
    const thrice = await mint({ serviceAccount: 'thrice', maxUses: 3 });
    const revoked = await mint({ serviceAccount: 'revoked', maxUses: 2 });
    await service.revoke(revoked.view.id);
    const unknown = 'bjt_' + 'Z'.repeat(43);
    const tokens = [once, thrice, once, revoked, thrice, once, thrice, thrice, revoked, thrice, once].map(
      (m) => m.token,
    );
    const results = await Promise.allSettled([...tokens, unknown].map((token) => service.redeem(token)));
    const outcome = (token: string) =>
      results
        .filter((_, i) => [...tokens, unknown][i] === token)
        .map((r) => (r.status === 'fulfilled' ? `ok:${r.value.serviceAccount}` : (r.reason as Error).message));
    const prefix = (m: typeof once) => m.view.tokenPrefix;
    assert.deepEqual(outcome(once.token).sort(), [
      ...Array(3).fill(`join token ${prefix(once)}… has been used 1 of 1 times`),
      'ok:once',
    ]);
    assert.deepEqual(outcome(thrice.token).sort(), [
      ...Array(2).fill(`join token ${prefix(thrice)}… has been used 3 of 3 times`),
      ...Array(3).fill('ok:thrice'),
    ]);
    for (const message of outcome(revoked.token)) assert.match(message, /was revoked at/);
    assert.deepEqual(outcome(unknown), ['join token not recognised']);
    const rows = await db.query<{ id: string; uses: number }>(
      'SELECT id, uses FROM citadel_join_tokens WHERE id = ANY($1::uuid[]) ORDER BY uses',
      [[once.view.id, thrice.view.id, revoked.view.id]],
    );
    assert.deepEqual(
      rows.map((r) => r.uses),
      [0, 1, 3],
    );
  });

  it('never grants more than maxUses when two replicas redeem the same tokens at once', async () => {
    const replica = new JoinTokensService(dataSource);
    const single = await Promise.all(Array.from({ length: 12 }, () => mint({ maxUses: 1 })));
    const triple = await Promise.all(Array.from({ length: 4 }, () => mint({ maxUses: 3 })));
    const attempts = [...single, ...triple].flatMap(({ token }) =>
      Array.from({ length: 4 }, (_, i) => (i % 2 === 0 ? service : replica).redeem(token)),
    );
    const results = await Promise.allSettled(attempts);
    for (const result of results) {
      if (result.status === 'rejected') refused(/has been used \d of \d times/)(result.reason);
    }
    const granted = (minted: { view: { id: string } }) =>
      results.filter((r) => r.status === 'fulfilled' && r.value.tokenId === minted.view.id).length;
    assert.deepEqual(single.map(granted), Array(12).fill(1));
    assert.deepEqual(triple.map(granted), Array(4).fill(3));
    const ids = [...single, ...triple].map((m) => m.view.id);
    const [sum] = await db.query<{ uses: number }>(
      'SELECT sum(uses)::int AS uses FROM citadel_join_tokens WHERE id = ANY($1::uuid[])',
      [ids],
    );
    assert.equal(sum!.uses, 12 + 4 * 3);
  });

  it('redeems one at a time, with the same answers, when the batched statement fails', async () => {
    const failing = Object.create(dataSource) as DataSource;
    failing.query = ((sql: string, params?: unknown[]) =>
      sql === BATCH_REDEEM_SQL
        ? Promise.reject(new Error('batch statement unavailable'))
        : dataSource.query(sql, params)) as DataSource['query'];
    const degraded = new JoinTokensService(failing);
    const { token, view } = await mint({ serviceAccount: 'degraded', maxUses: 2 });
    const results = await Promise.allSettled([1, 2, 3].map(() => degraded.redeem(token)));
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value.serviceAccount : (r.reason as Error).message)).sort(),
      ['degraded', 'degraded', `join token ${view.tokenPrefix}… has been used 2 of 2 times`],
    );
    assert.ok(logs.some((line) => line.includes('batched join token redemption failed')));
  });

  it('refuses an expired token, saying when it expired', async () => {
    const minted = new Date('2030-05-01T00:00:00.000Z');
    const { token, view } = await mint({ ttlSeconds: 60, maxUses: 5 }, minted);
    assert.equal((await service.redeem(token, new Date(minted.getTime() + 59_000))).tokenId, view.id);
    await assert.rejects(
      service.redeem(token, new Date(minted.getTime() + 60_000)),
      refused(`join token ${view.tokenPrefix}… expired at 2030-05-01T00:01:00.000Z`),
    );
  });

  it('revokes a token idempotently, and refuses it afterwards, saying when', async () => {
    const { token, view } = await mint({ maxUses: 5 });
    const at = new Date(Date.now() + HOUR / 2);
    const revoked = await service.revoke(view.id, at);
    assert.equal(revoked.revokedAt, at.toISOString());
    assert.equal((await service.revoke(view.id, new Date(at.getTime() + 1000))).revokedAt, at.toISOString());
    await assert.rejects(
      service.redeem(token, new Date(at.getTime() + 1000)),
      refused(`join token ${view.tokenPrefix}… was revoked at ${at.toISOString()}`),
    );
  });

  it('refuses a token it never minted without echoing it', async () => {
    const { token } = await mint();
    const forged = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    await assert.rejects(service.redeem(forged), refused('join token not recognised'));
    await assert.rejects(service.redeem(''), refused('join token not recognised'));
    await assert.rejects(service.redeem('bjt_' + 'x'.repeat(5000)), refused('join token not recognised'));
  });

  it('answers NOT_FOUND when revoking an unknown id', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      await assert.rejects(
        service.revoke(id),
        (error: unknown) => error instanceof BowlineError && error.kind.httpStatus === 404,
      );
    }
  });

  it('lists newest first, filtered by namespace and service account', async () => {
    const t0 = Date.parse('2031-01-01T00:00:00.000Z');
    const a = await mint({ namespace: 'listing', serviceAccount: 'alpha' }, new Date(t0));
    const b = await mint({ namespace: 'listing', serviceAccount: 'beta' }, new Date(t0 + 1000));
    const c = await mint({ namespace: 'listing', serviceAccount: 'alpha' }, new Date(t0 + 2000));
    await mint({ namespace: 'elsewhere', serviceAccount: 'alpha' }, new Date(t0 + 3000));

    const ids = (views: { id: string }[]) => views.map((v) => v.id);
    assert.deepEqual(ids(await service.list({ namespace: 'listing' })), [c.view.id, b.view.id, a.view.id]);
    assert.deepEqual(ids(await service.list({ namespace: 'listing', serviceAccount: 'alpha' })), [
      c.view.id,
      a.view.id,
    ]);
    assert.deepEqual(await service.list({ namespace: 'nobody-here' }), []);
    const all = await service.list();
    assert.ok(all.length >= 4);
    assert.ok(all.every((v, i) => i === 0 || Date.parse(all[i - 1]!.createdAt) >= Date.parse(v.createdAt)));
    assert.ok(all.every((v) => !('token' in v) && !('tokenHash' in v)));
  });

  it('never logs a secret', async () => {
    const { token } = await mint({ maxUses: 1 });
    await service.redeem(token);
    await assert.rejects(service.redeem(token));
    assert.ok(logs.some((line) => line.includes('redeemed a join token')));
    assert.ok(logs.some((line) => line.includes('refused a join token')));
    assert.ok(secrets.length > 10);
    assert.ok(logs.every((line) => secrets.every((secret) => !line.includes(secret))));
  });
});
