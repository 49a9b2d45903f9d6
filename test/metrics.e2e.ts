import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, ServiceProcess, type TestDatabase } from '#libs/testing';

const ADMIN = 'metrics-e2e-admin-token-0123456789abcdef';

/** `promtool check metrics` (Debian's `prometheus` package) with `body` on stdin. */
function promtoolCheck(body: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(body);
  });
}

const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

describe('GET /metrics on every service', () => {
  let db: TestDatabase;
  let pilot: ServiceProcess;
  const scrape = (token?: string) =>
    fetch(`${pilot.adminUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  before(async () => {
    db = await createTestDatabase();
    await db.migrate();
    pilot = await ServiceProcess.spawn('pilot', { DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: ADMIN });
    await pilot.waitFor('/readyz');
  });
  after(async () => {
    await pilot?.stop();
    await db?.drop();
  });

  it('refuses a scrape without a token (401 problem+json)', async () => {
    const response = await scrape();
    assert.equal(response.status, 401);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
  });

  it('serves the Prometheus text format to a viewer token', async () => {
    const created = await fetch(`${pilot.adminUrl}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'prometheus', role: 'viewer', ttlSeconds: 3600 }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { token } = (await created.json()) as { token: string };

    const response = await scrape(token);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const body = await response.text();
    assert.match(body, /^bowline_build_info\{service="pilot",version="[^"]+"\} 1$/m);
    assert.match(body, /^process_cpu_seconds_total \d/m, 'Node process metrics, under their standard names');
    // The refused scrape above was counted, under its route template and status.
    assert.match(
      body,
      /^bowline_http_request_duration_seconds_count\{method="GET",route="\/metrics",code="401"\} [1-9]/m,
    );
  });

  it('passes `promtool check metrics` without errors or lint warnings', async (t) => {
    if (!hasPromtool) {
      if (process.env.CI) assert.fail('promtool is missing: install Debian\'s "prometheus" package');
      t.skip('promtool is not installed (apt-get install prometheus)');
      return;
    }
    const body = await (await scrape(ADMIN)).text();
    const { code, output } = await promtoolCheck(body);
    assert.equal(code, 0, `promtool check metrics:\n${output}`);
    assert.equal(output.trim(), '', `promtool check metrics printed:\n${output}`);
  });
});
