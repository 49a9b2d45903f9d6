import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, ServiceProcess, type TestDatabase } from '#libs/testing';

const EXIT_CONFIG = 78;

/** A bad setting stops a service before it serves anything, naming the variable and what it expects. */
describe('start-up configuration', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db?.drop());

  async function startFails(app: Parameters<typeof ServiceProcess.spawn>[0], env: Record<string, string>) {
    const service = await ServiceProcess.spawn(app, { DATABASE_URL: db.url, ...env });
    const exit = await service.exit();
    assert.equal(exit.code, EXIT_CONFIG, service.logs);
    return service.logs;
  }

  it('names a malformed port and what a port looks like', async () => {
    const logs = await startFails('citadel', { CITADEL_GRPC_PORT: 'fifteen' });
    assert.match(
      logs,
      /CITADEL_GRPC_PORT "fifteen": not a whole number; expected a TCP port number between 1 and 65535/,
    );
  });

  it('names every bad variable at once', async () => {
    const logs = await startFails('pilot', {
      PILOT_ADMIN_PORT: '70000',
      BOWLINE_LOG_LEVEL: 'loud',
      BOWLINE_SHUTDOWN_GRACE: 'soon',
    });
    assert.match(logs, /PILOT_ADMIN_PORT "70000": out of range/);
    assert.match(logs, /BOWLINE_LOG_LEVEL "loud": .*expected one of trace, debug, info, warn, error, fatal/);
    assert.match(logs, /BOWLINE_SHUTDOWN_GRACE "soon": .*expected a duration/);
  });

  it('refuses a misspelt Bowline variable instead of ignoring it', async () => {
    const logs = await startFails('galley', { GALLEY_GRPC_PRT: '15019' });
    assert.match(logs, /GALLEY_GRPC_PRT is not a Bowline setting/);
  });

  it('requires DATABASE_URL and accepts it from a _FILE', async () => {
    const service = await ServiceProcess.spawn('policy', {});
    assert.equal((await service.exit()).code, EXIT_CONFIG);
    assert.match(service.logs, /DATABASE_URL is required: expected a postgres:\/\/ or postgresql:\/\/ URL/);
  });

  it('does not echo a secret it refuses', async () => {
    const logs = await startFails('galley', { BOWLINE_ADMIN_TOKEN: 'short-secret-value' });
    assert.match(logs, /BOWLINE_ADMIN_TOKEN \(secret value\): too short/);
    assert.doesNotMatch(logs, /short-secret-value/);
  });

  it('stops Citadel without a key-encryption key, or with a malformed one', async () => {
    const missing = await startFails('citadel', {});
    assert.match(missing, /BOWLINE_CA_KEK is required: expected 32 random bytes .*CITADEL_DEV_KEK_FILE/);
    const malformed = await startFails('citadel', { BOWLINE_CA_KEK: 'not-a-key' });
    assert.match(malformed, /BOWLINE_CA_KEK \(secret value\): not a 256-bit key/);
    assert.doesNotMatch(malformed, /not-a-key/);
  });

  it('stops the policy service when the OPA CLI is not an executable file', async () => {
    const logs = await startFails('policy', { POLICY_OPA_PATH: '/nonexistent/opa' });
    assert.match(logs, /POLICY_OPA_PATH "\/nonexistent\/opa": not an executable file/);
  });
});
