import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, json, ServiceProcess, type TestDatabase } from '#libs/testing';

/** The admin token lifecycle a user goes through, against a real service and PostgreSQL. */
describe('admin API tokens', () => {
  let db: TestDatabase;
  let scratch: string;
  let service: ServiceProcess;
  let admin: string;

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    scratch = await mkdtemp(join(tmpdir(), 'bowline-tokens-'));
    service = await ServiceProcess.spawn('galley', {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN_OUTPUT: join(scratch, 'admin-token'),
    });
    await service.waitFor('/readyz');
    admin = (await readFile(join(scratch, 'admin-token'), 'utf8')).trim();
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(service.adminUrl + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('generates a bootstrap admin token into a 0600 file and logs only its path', async () => {
    const info = await stat(join(scratch, 'admin-token'));
    assert.equal(info.mode & 0o777, 0o600);
    assert.match(admin, /^bwl_[A-Za-z0-9_-]{43}$/);
    assert.ok(service.logs.includes(join(scratch, 'admin-token')), 'the path is logged');
    assert.ok(!service.logs.includes(admin), 'the token itself is never logged');
    const rows = await db.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens');
    assert.ok(
      rows.every((r) => !admin.includes(r.token_hash)),
      'only a hash is stored',
    );
    assert.equal((await call('GET', '/v1/tokens', admin)).status, 200);
  });

  it('creates tokens whose secret is shown once, and roles that limit them', async () => {
    const created = await call('POST', '/v1/tokens', admin, {
      name: 'ci-operator',
      role: 'operator',
      ttlSeconds: 3600,
    });
    assert.equal(created.status, 201);
    const body = await json(created);
    assert.match(body.token, /^bwl_/);
    assert.equal(body.role, 'operator');
    assert.ok(Date.parse(body.expiresAt) > Date.now());

    const listed = await json(await call('GET', '/v1/tokens', admin));
    const entry = listed.items.find((t: { id: string }) => t.id === body.id);
    assert.equal(entry.name, 'ci-operator');
    assert.equal(entry.token, undefined, 'a list never shows secrets');
    assert.equal(JSON.stringify(listed).includes(body.token), false);

    const asOperator = await call('POST', '/v1/tokens', body.token, { name: 'x', role: 'viewer' });
    assert.equal(asOperator.status, 403);
    assert.equal((await call('GET', '/openapi.json', body.token)).status, 200, 'an operator may do what a viewer may');
  });

  it('answers a bad request with every field problem and stores nothing', async () => {
    const before = (await db.query('SELECT id FROM api_tokens')).length;
    const response = await call('POST', '/v1/tokens', admin, { name: '', role: 'root', ttlSeconds: 5, extra: true });
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    const problem = await json(response);
    assert.deepEqual(problem.errors.map((e: { path: string }) => e.path).sort(), [
      'extra',
      'name',
      'role',
      'ttlSeconds',
    ]);
    const malformed = await call('POST', '/v1/tokens', admin, '{"name": ');
    assert.equal(malformed.status, 400);
    assert.match(malformed.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal((await db.query('SELECT id FROM api_tokens')).length, before);
  });

  it('revokes a token so it stops working, and refuses to revoke the last admin', async () => {
    const viewer = await json(await call('POST', '/v1/tokens', admin, { name: 'dashboard', role: 'viewer' }));
    assert.equal((await call('GET', '/openapi.json', viewer.token)).status, 200);
    const revoked = await call('DELETE', `/v1/tokens/${viewer.id}`, admin);
    assert.equal(revoked.status, 200);
    assert.ok((await json(revoked)).revokedAt);
    assert.equal((await call('GET', '/openapi.json', viewer.token)).status, 401);

    const [bootstrap] = await db.query<{ id: string }>(`SELECT id FROM api_tokens WHERE name LIKE 'bootstrap%'`);
    const last = await call('DELETE', `/v1/tokens/${bootstrap.id}`, admin);
    assert.equal(last.status, 409);
    assert.match((await json(last)).detail, /last usable admin token/);
    assert.equal((await call('DELETE', '/v1/tokens/00000000-0000-4000-8000-000000000000', admin)).status, 404);
    assert.equal((await call('DELETE', '/v1/tokens/not-a-uuid', admin)).status, 400);
  });

  it('refuses an expired token', async () => {
    const token = await json(
      await call('POST', '/v1/tokens', admin, { name: 'short-lived', role: 'viewer', ttlSeconds: 60 }),
    );
    await db.query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [token.id]);
    assert.equal((await call('GET', '/openapi.json', token.token)).status, 401);
  });

  it('registers BOWLINE_ADMIN_TOKEN on a restart, keeping existing tokens', async () => {
    await service.stop();
    const configured = 'operator-chosen-admin-token-0123456789';
    service = await ServiceProcess.spawn('galley', { DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: configured });
    await service.waitFor('/readyz');
    assert.equal((await call('GET', '/v1/tokens', configured)).status, 200);
    assert.equal((await call('GET', '/v1/tokens', admin)).status, 200, 'the generated token still works');
    assert.ok(!service.logs.includes(configured));
  });
});
