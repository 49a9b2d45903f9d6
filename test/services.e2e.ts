import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type AppName,
  createTestDatabase,
  json,
  newKek,
  ServiceProcess,
  type TestDatabase,
  useCitadelTls,
} from '#libs/testing';

/** The control-plane services (the proxy has no database and is tested in proxy*.e2e.ts). */
const APPS: AppName[] = ['citadel', 'pilot', 'galley', 'policy'];
const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdefghijklmnop';

/**
 * Every service, started as its own process against a real PostgreSQL: gRPC health and
 * reflection (checked with grpcurl), probes, OpenAPI, authentication, graceful shutdown.
 */
for (const app of APPS) {
  describe(`the ${app} service`, () => {
    let db: TestDatabase;
    let service: ServiceProcess;
    before(async () => {
      db = await createTestDatabase();
      await db.migrate();
      service = await ServiceProcess.spawn(app, {
        DATABASE_URL: db.url,
        BOWLINE_ADMIN_TOKEN: ADMIN_TOKEN,
        ...(app === 'citadel' ? { BOWLINE_CA_KEK: newKek() } : {}),
      });
      await service.waitFor('/readyz', 200);
      // Citadel's gRPC port is TLS only, with a certificate it issued itself.
      if (app === 'citadel') await useCitadelTls(service, ADMIN_TOKEN);
    });
    after(async () => {
      await service?.stop();
      await db?.drop();
    });

    it('answers /healthz and /readyz without a token', async () => {
      const health = await fetch(`${service.adminUrl}/healthz`);
      assert.equal(health.status, 200);
      const ready = await fetch(`${service.adminUrl}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual((await json(ready)).checks, {
        database: 'ok',
        migrations: 'ok',
      });
    });

    it('lists health and reflection through gRPC server reflection', async () => {
      const services = (await service.grpcurl('list')).trim().split('\n');
      assert.ok(services.includes('grpc.health.v1.Health'), services.join(', '));
      assert.ok(services.includes('grpc.reflection.v1.ServerReflection'), services.join(', '));
      assert.ok(services.includes('grpc.reflection.v1alpha.ServerReflection'), services.join(', '));
    });

    it('reports SERVING over grpc.health.v1 and NOT_FOUND for an unknown service', async () => {
      const overall = JSON.parse(await service.grpcurl('-d', '{}', 'grpc.health.v1.Health/Check'));
      assert.equal(overall.status, 'SERVING');
      const named = JSON.parse(
        await service.grpcurl('-d', '{"service":"grpc.health.v1.Health"}', 'grpc.health.v1.Health/Check'),
      );
      assert.equal(named.status, 'SERVING');
      await assert.rejects(
        service.grpcurl('-d', '{"service":"no.such.Service"}', 'grpc.health.v1.Health/Check'),
        /NotFound/,
      );
    });

    it('refuses admin endpoints without a token (401) and without the role (403), as problem+json', async () => {
      const anonymous = await fetch(`${service.adminUrl}/v1/tokens`);
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal((await json(anonymous)).status, 401);

      const wrong = await fetch(`${service.adminUrl}/v1/tokens`, {
        headers: { authorization: 'Bearer bwl_not-a-real-token' },
      });
      assert.equal(wrong.status, 401);

      const viewer = await createToken(service, 'viewer');
      const forbidden = await fetch(`${service.adminUrl}/v1/tokens`, {
        headers: { authorization: `Bearer ${viewer}` },
      });
      assert.equal(forbidden.status, 403);
      const problem = await json(forbidden);
      assert.match(problem.detail, /needs the "admin" role/);

      const openapi = await fetch(`${service.adminUrl}/openapi.json`, {
        headers: { authorization: `Bearer ${viewer}` },
      });
      assert.equal(openapi.status, 200);
      const document = await json(openapi);
      assert.match(document.openapi, /^3\./);
      assert.ok(document.paths['/v1/tokens'], 'the token API is documented');
      assert.equal((await fetch(`${service.adminUrl}/openapi.json`)).status, 401);
    });

    it('stops cleanly on SIGTERM', async () => {
      const exit = await service.stop('SIGTERM');
      assert.equal(exit.code, 0, service.logs);
      assert.match(service.logs, /stopped cleanly/);
    });
  });
}

async function createToken(service: ServiceProcess, role: string): Promise<string> {
  const response = await fetch(`${service.adminUrl}/v1/tokens`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ name: `e2e ${role}`, role }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return (await json(response)).token;
}
