#!/usr/bin/env node
// `npm start`: the whole mesh control plane on this machine, without Docker.
//   1. builds the code and the OPA CLI (first run only: a few minutes);
//   2. uses DATABASE_URL, or starts an embedded PostgreSQL whose data stays in .bowline/;
//   3. applies the migrations;
//   4. starts citadel, pilot, galley, policy and proxy as separate processes, with
//      prefixed, readable logs, and waits until each answers /readyz.
// Ctrl-C stops the services (gracefully), then PostgreSQL.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { build, ensureTools, ROOT, run } from './lib/build.mjs';
import { startEmbeddedPostgres } from './lib/postgres.mjs';
import { formatLogLine } from './lib/log-format.mjs';

const APPS = [
  { name: 'citadel', color: 36 },
  { name: 'pilot', color: 35 },
  { name: 'galley', color: 33 },
  { name: 'policy', color: 32 },
  { name: 'proxy', color: 34 },
];
const WIDTH = Math.max(...APPS.map((a) => a.name.length), 'postgres'.length);
const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (color, text) => (useColor ? `\x1b[${color}m${text}\x1b[0m` : text);
const say = (text) => process.stdout.write(`${paint(1, 'bowline'.padEnd(WIDTH))} | ${text}\n`);

function prefixed(name, color, stream) {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop();
    for (const line of lines)
      if (line) process.stdout.write(`${paint(color, name.padEnd(WIDTH))} | ${formatLogLine(line)}\n`);
  });
}

async function main() {
  ensureTools('opa');
  build();
  const require = createRequire(import.meta.url);
  const { configFromEnv, schemas, ConfigError } = require(join(ROOT, 'dist/libs/config/src/index.js'));
  let settings;
  let ports;
  try {
    settings = configFromEnv(schemas.runner);
    ports = Object.fromEntries(
      APPS.map((app) => [
        app.name,
        configFromEnv({ admin: schemas[app.name].adminPort, grpc: schemas[app.name].grpcPort }),
      ]),
    );
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }

  const dataDir = resolve(ROOT, settings.dataDir);
  let databaseUrl = process.env.DATABASE_URL;
  let postgres;
  if (databaseUrl) {
    say('using the PostgreSQL server in DATABASE_URL');
  } else {
    say(
      `starting embedded PostgreSQL on 127.0.0.1:${settings.embeddedPostgresPort} (data in ${join(dataDir, 'postgres')})`,
    );
    postgres = await startEmbeddedPostgres({
      dataDir: join(dataDir, 'postgres'),
      port: settings.embeddedPostgresPort,
      log: (line) =>
        process.env.BOWLINE_LOG_LEVEL === 'debug' && process.stdout.write(`${'postgres'.padEnd(WIDTH)} | ${line}\n`),
    });
    databaseUrl = postgres.url;
  }

  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    BOWLINE_BIND_ADDRESS: process.env.BOWLINE_BIND_ADDRESS ?? '127.0.0.1',
    BOWLINE_ADMIN_TOKEN_OUTPUT: process.env.BOWLINE_ADMIN_TOKEN_OUTPUT ?? join(dataDir, 'admin-token'),
  };
  // Citadel seals its CA keys with a KEK: without BOWLINE_CA_KEK, a development KEK is
  // generated once and kept beside the embedded database (Citadel logs that loudly).
  if (!env.BOWLINE_CA_KEK && !env.BOWLINE_CA_KEK_FILE && !env.CITADEL_DEV_KEK_FILE) {
    env.CITADEL_DEV_KEK_FILE = join(dataDir, 'ca-kek');
  }
  delete env.BOWLINE_DATA_DIR;
  delete env.BOWLINE_EMBEDDED_PG_PORT;
  run(process.execPath, [join(ROOT, 'dist/libs/db/src/cli.js'), 'run'], { env });

  const children = new Map();
  let stopping = false;
  const stopAll = async (code) => {
    if (stopping) return;
    stopping = true;
    say('stopping services…');
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise((done) => (child.exitCode !== null ? done() : (child.once('exit', done), child.kill('SIGTERM')))),
      ),
    );
    if (postgres) {
      say('stopping PostgreSQL…');
      await postgres.stop();
    }
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  for (const app of APPS) {
    const child = spawn(process.execPath, ['--enable-source-maps', join(ROOT, `dist/apps/${app.name}/src/main.js`)], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    prefixed(app.name, app.color, child.stdout);
    prefixed(app.name, app.color, child.stderr);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      say(paint(31, `${app.name} exited unexpectedly (${signal ?? `exit ${code}`}); stopping everything`));
      void stopAll(1);
    });
    children.set(app.name, child);
  }

  const host = env.BOWLINE_BIND_ADDRESS === '0.0.0.0' ? '127.0.0.1' : env.BOWLINE_BIND_ADDRESS;
  await Promise.all(APPS.map((app) => waitReady(`http://${host}:${ports[app.name].admin}/readyz`)));
  say(paint(32, 'all five services are ready:'));
  for (const app of APPS) {
    const { admin, grpc } = ports[app.name];
    say(`  ${app.name.padEnd(8)} admin http://${host}:${admin}   gRPC ${host}:${grpc}`);
  }
  say(`admin token: BOWLINE_ADMIN_TOKEN if you set it, otherwise the file ${env.BOWLINE_ADMIN_TOKEN_OUTPUT}`);
  say('press Ctrl-C to stop');
}

async function waitReady(url) {
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

main().catch((error) => {
  process.stderr.write(`npm start failed: ${error?.stack ?? error}\n`);
  process.exit(1);
});
