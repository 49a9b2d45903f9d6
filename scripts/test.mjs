#!/usr/bin/env node
// `npm test`: the whole suite, on a fresh machine or in CI.
//   - builds the OPA CLI and grpcurl into .tools/ when missing;
//   - uses the PostgreSQL server in DATABASE_URL, or starts an embedded one for this run
//     (each test file creates and drops its own database on it);
//   - compiles, then runs every unit spec (*.spec.ts beside the code) and end-to-end test
//     (test/*.e2e.ts) with node's test runner.
// `npm test -- <text>` runs only the test files whose path contains <text>.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { build, ensureTools, ROOT } from './lib/build.mjs';
import { freePort, startEmbeddedPostgres } from './lib/postgres.mjs';

const filters = process.argv.slice(2);

async function collect(dir, suffixes) {
  const found = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await collect(path, suffixes)));
    else if (suffixes.some((s) => entry.name.endsWith(s))) found.push(path);
  }
  return found;
}

async function main() {
  ensureTools('opa', 'grpcurl');
  build();

  const dist = join(ROOT, 'dist');
  const files = [
    ...(await collect(join(dist, 'apps'), ['.spec.js'])),
    ...(await collect(join(dist, 'libs'), ['.spec.js'])),
    ...(await collect(join(dist, 'test'), ['.e2e.js', '.spec.js'])),
  ]
    .filter((file) => filters.length === 0 || filters.some((f) => relative(ROOT, file).includes(f)))
    .sort();
  if (files.length === 0) {
    process.stderr.write(`no test files match ${filters.join(' ')}\n`);
    return 1;
  }

  let server = process.env.DATABASE_URL;
  let embedded;
  let scratch;
  if (!server) {
    scratch = await mkdtemp(join(tmpdir(), 'bowline-test-'));
    await chmod(scratch, 0o755); // as root, the server runs as the postgres user and must reach its data
    process.stdout.write('DATABASE_URL is not set: starting an embedded PostgreSQL for this run\n');
    embedded = await startEmbeddedPostgres({
      dataDir: join(scratch, 'pg', 'data'),
      port: await freePort(),
      persistent: false,
    });
    server = embedded.url;
  }

  const env = { ...process.env, BOWLINE_TEST_DATABASE_URL: server };
  delete env.DATABASE_URL; // tests hand each service its own database
  const child = spawn(process.execPath, ['--enable-source-maps', '--test', '--test-concurrency=2', ...files], {
    cwd: ROOT,
    env,
    stdio: 'inherit',
  });
  const stopChild = () => child.kill('SIGINT');
  process.on('SIGINT', stopChild);
  process.on('SIGTERM', stopChild);
  const code = await new Promise((resolve) =>
    child.on('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0))),
  );
  if (embedded) await embedded.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
  return code;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`npm test failed to run: ${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
