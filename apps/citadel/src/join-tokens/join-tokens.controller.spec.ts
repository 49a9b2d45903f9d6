import { type INestApplication, Module } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuthModule, TokensService } from '#libs/auth';
import { DatabaseModule } from '#libs/db';
import { BowlineError, ProblemFilter } from '#libs/errors';
import { createTestDatabase, json, type TestDatabase } from '#libs/testing';
import { ENTITIES, MIGRATIONS } from '../../../../migrations';
import { parseJoinTokenFilter, parseMintJoinToken } from './join-tokens.controller';
import { JoinTokensModule } from './join-tokens.module';

/** The field paths a 400 names, in order. */
function problemPaths(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof BowlineError);
    assert.equal(error.kind.httpStatus, 400);
    return error.errors.map((e) => e.path);
  }
  assert.fail('expected a 400');
}

describe('parseMintJoinToken', () => {
  it('accepts a valid request and applies the defaults', () => {
    assert.deepEqual(parseMintJoinToken({ namespace: 'payments', serviceAccount: 'api.v2' }), {
      namespace: 'payments',
      serviceAccount: 'api.v2',
      ttlSeconds: 3600,
      maxUses: 1,
    });
    assert.deepEqual(
      parseMintJoinToken({ namespace: 'a', serviceAccount: 'b', ttlSeconds: 2_592_000, maxUses: 100_000 }),
      { namespace: 'a', serviceAccount: 'b', ttlSeconds: 2_592_000, maxUses: 100_000 },
    );
    assert.equal(parseMintJoinToken({ namespace: 'a', serviceAccount: 'b', ttlSeconds: 60 }).ttlSeconds, 60);
  });

  it('names each invalid field, unknown fields first', () => {
    const body = { namespace: 'Payments', serviceAccount: 'api/v2', ttlSeconds: 59, maxUses: 0, role: 'admin' };
    assert.deepEqual(
      problemPaths(() => parseMintJoinToken(body)),
      ['role', 'namespace', 'serviceAccount', 'ttlSeconds', 'maxUses'],
    );
    assert.throws(
      () => parseMintJoinToken(body),
      /ttlSeconds: must be a whole number of seconds from 60 to 2592000; maxUses: must be a whole number of uses from 1 to 100000/,
    );
  });

  it('refuses missing names, names too long for Kubernetes, and non-integers', () => {
    assert.deepEqual(
      problemPaths(() => parseMintJoinToken({})),
      ['namespace', 'serviceAccount'],
    );
    const cases: [Record<string, unknown>, string][] = [
      [{ namespace: 'x'.repeat(64) }, 'namespace'],
      [{ namespace: 'ns.with.dots' }, 'namespace'],
      [{ namespace: '-leading' }, 'namespace'],
      [{ namespace: 7 }, 'namespace'],
      [{ serviceAccount: 'a'.repeat(254) }, 'serviceAccount'],
      [{ serviceAccount: '..' }, 'serviceAccount'],
      [{ serviceAccount: '' }, 'serviceAccount'],
      [{ ttlSeconds: 2_592_001 }, 'ttlSeconds'],
      [{ ttlSeconds: '3600' }, 'ttlSeconds'],
      [{ ttlSeconds: null }, 'ttlSeconds'],
      [{ maxUses: 1.5 }, 'maxUses'],
      [{ maxUses: 100_001 }, 'maxUses'],
    ];
    for (const [override, path] of cases) {
      const body = { namespace: 'ok', serviceAccount: 'ok', ...override };
      assert.deepEqual(
        problemPaths(() => parseMintJoinToken(body)),
        [path],
        JSON.stringify(override),
      );
    }
  });

  it('refuses a body that is not an object', () => {
    assert.throws(() => parseMintJoinToken([]), /the body must be a JSON object/);
    assert.throws(() => parseMintJoinToken(null), /the body must be a JSON object/);
    assert.throws(() => parseMintJoinToken('payments'), /the body must be a JSON object/);
  });
});

describe('parseJoinTokenFilter', () => {
  it('accepts either filter, and treats an empty one as absent', () => {
    assert.deepEqual(parseJoinTokenFilter({}), {});
    assert.deepEqual(parseJoinTokenFilter({ namespace: 'shop', serviceAccount: 'web' }), {
      namespace: 'shop',
      serviceAccount: 'web',
    });
    assert.deepEqual(parseJoinTokenFilter({ namespace: '', serviceAccount: 'web' }), { serviceAccount: 'web' });
  });

  it('names bad and unknown query parameters', () => {
    assert.deepEqual(
      problemPaths(() => parseJoinTokenFilter({ ns: 'shop', namespace: ['a', 'b'] })),
      ['ns', 'namespace'],
    );
    assert.deepEqual(
      problemPaths(() => parseJoinTokenFilter({ serviceAccount: 'Web' })),
      ['serviceAccount'],
    );
  });
});

describe('/v1/join-tokens', () => {
  const ADMIN = 'bwl_join-tokens-controller-spec-admin-token';
  let db: TestDatabase;
  let scratch: string;
  let app: INestApplication;
  let base: string;
  let operator: { id: string; token: string };
  let viewer: string;

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    scratch = await mkdtemp(join(tmpdir(), 'bowline-join-tokens-'));
    @Module({
      imports: [
        DatabaseModule.forRoot({ url: db.url, entities: ENTITIES, migrations: MIGRATIONS, applicationName: 'test' }),
        AuthModule.forRoot({ configuredToken: ADMIN, outputPath: join(scratch, 'admin-token') }),
        JoinTokensModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }],
    })
    class TestModule {}
    app = await NestFactory.create(TestModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const tokens = app.get(TokensService);
    const op = await tokens.create({ name: 'operator', role: 'operator' });
    operator = { id: op.view.id, token: op.token };
    viewer = (await tokens.create({ name: 'viewer', role: 'viewer' })).token;
  });
  after(async () => {
    await app?.close();
    await db?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(base + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('mints for an operator, returning the secret once and recording who asked', async () => {
    const response = await call('POST', '/v1/join-tokens', operator.token, {
      namespace: 'shop',
      serviceAccount: 'web',
    });
    assert.equal(response.status, 201);
    const body = await json(response);
    assert.match(body.token, /^bjt_[A-Za-z0-9_-]{43}$/);
    assert.equal(body.tokenPrefix, body.token.slice(0, 12));
    assert.equal(body.spiffeIdPath, 'ns/shop/sa/web');
    assert.equal(body.maxUses, 1);
    assert.equal(body.uses, 0);
    assert.equal(Date.parse(body.expiresAt) - Date.parse(body.createdAt), 3_600_000);
    assert.equal(body.createdBy, operator.id);

    const listed = await json(await call('GET', '/v1/join-tokens?namespace=shop', viewer));
    assert.deepEqual(
      listed.items.map((t: { id: string }) => t.id),
      [body.id],
    );
    assert.equal(JSON.stringify(listed).includes(body.token), false, 'a list never shows secrets');
  });

  it('lets only operators mint and revoke, and viewers list', async () => {
    const mintBody = { namespace: 'shop', serviceAccount: 'web' };
    assert.equal((await call('POST', '/v1/join-tokens', undefined, mintBody)).status, 401);
    assert.equal((await call('POST', '/v1/join-tokens', viewer, mintBody)).status, 403);
    assert.equal((await call('GET', '/v1/join-tokens')).status, 401);
    assert.equal((await call('GET', '/v1/join-tokens', viewer)).status, 200);
    const { id } = await json(await call('POST', '/v1/join-tokens', ADMIN, mintBody));
    assert.equal((await call('DELETE', `/v1/join-tokens/${id}`, viewer)).status, 403);
  });

  it('answers a bad request with every field problem and stores nothing', async () => {
    const before = (await db.query('SELECT id FROM citadel_join_tokens')).length;
    const response = await call('POST', '/v1/join-tokens', operator.token, {
      namespace: 'Shop',
      serviceAccount: 'web',
      ttlSeconds: 30,
      maxUses: -1,
      spiffeId: 'spiffe://x/ns/a/sa/b',
    });
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    const problem = await json(response);
    assert.deepEqual(
      problem.errors.map((e: { path: string }) => e.path),
      ['spiffeId', 'namespace', 'ttlSeconds', 'maxUses'],
    );
    assert.equal((await db.query('SELECT id FROM citadel_join_tokens')).length, before);
    assert.equal((await call('GET', '/v1/join-tokens?namespace=Shop', viewer)).status, 400);
  });

  it('revokes idempotently; unknown ids are 404, malformed ones 400', async () => {
    const minted = await json(
      await call('POST', '/v1/join-tokens', operator.token, { namespace: 'ops', serviceAccount: 'cron', maxUses: 3 }),
    );
    const first = await call('DELETE', `/v1/join-tokens/${minted.id}`, operator.token);
    assert.equal(first.status, 200);
    const revoked = await json(first);
    assert.ok(revoked.revokedAt);
    assert.equal(revoked.token, undefined);
    const again = await json(await call('DELETE', `/v1/join-tokens/${minted.id}`, operator.token));
    assert.equal(again.revokedAt, revoked.revokedAt);
    assert.equal((await call('DELETE', '/v1/join-tokens/00000000-0000-4000-8000-000000000000', ADMIN)).status, 404);
    assert.equal((await call('DELETE', '/v1/join-tokens/not-a-uuid', ADMIN)).status, 400);
  });
});
