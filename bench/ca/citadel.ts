import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CaKeyType } from '#libs/pki';
import { createTestDatabase, freePort, newKek, PORT_VARIABLES, repoRoot, type TestDatabase } from '#libs/testing';

const ADMIN = 'bench-admin-token-0123456789abcdef0123456789';
const LOG_TAIL_BYTES = 64 * 1024;

/** A real Citadel process on a fresh database of the server in DATABASE_URL. */
export interface BenchCitadel {
  adminUrl: string;
  grpcAddress: string;
  trustBundlePem: string;
  /** Citadel's process id (for its CPU time). */
  pid: number;
  /** Process ids of the PostgreSQL backends connected to Citadel's database. */
  postgresPids(): Promise<number[]>;
  /** Mints `count` join tokens (one per client), each good for `maxUses` certificates. */
  mintJoinTokens(count: number, maxUses: number): Promise<string[]>;
  /** SIGTERM, wait for the exit (which writes the CPU profile), drop the database. */
  stop(): Promise<void>;
}

export interface StartParams {
  keyType: CaKeyType;
  /** When set, Citadel runs under `node --cpu-prof` and writes its profile here on exit. */
  profileDir?: string;
  /** The Citadel entry point; default this checkout's `dist/apps/citadel/src/main.js`. */
  mainPath?: string;
  /** Extra node flags (before the script). */
  nodeFlags?: readonly string[];
  /** CITADEL_SIGNING_WORKERS; unset: Citadel's default. */
  signingWorkers?: number;
}

/**
 * Creates and migrates a database, starts `dist/apps/citadel/src/main.js` on free ports and
 * waits until it is ready. Spawned here rather than with `ServiceProcess` because node refuses
 * `--cpu-prof` in NODE_OPTIONS, and so that the bench does not buffer Citadel's whole log.
 */
export async function startCitadel(params: StartParams): Promise<BenchCitadel> {
  const db: TestDatabase = await createTestDatabase('bowline_bench');
  let child: ChildProcess | undefined;
  try {
    await db.migrate();
    const [grpcPort, adminPort] = [await freePort(), await freePort()];
    const nodeFlags: string[] = [...(params.nodeFlags ?? [])];
    if (params.profileDir) {
      mkdirSync(params.profileDir, { recursive: true });
      nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${params.profileDir}`);
    }
    const mainPath = params.mainPath ?? join(repoRoot(), 'dist', 'apps', 'citadel', 'src', 'main.js');
    child = spawn(process.execPath, [...nodeFlags, mainPath], {
      cwd: repoRoot(),
      env: {
        PATH: process.env.PATH ?? '',
        BOWLINE_BIND_ADDRESS: '127.0.0.1',
        [PORT_VARIABLES.citadel.grpc]: String(grpcPort),
        [PORT_VARIABLES.citadel.admin]: String(adminPort),
        DATABASE_URL: db.url,
        BOWLINE_ADMIN_TOKEN: ADMIN,
        BOWLINE_CA_KEK: newKek(),
        CITADEL_CA_KEY_TYPE: params.keyType,
        ...(params.signingWorkers === undefined ? {} : { CITADEL_SIGNING_WORKERS: String(params.signingWorkers) }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const running = child;
    let tail = '';
    const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-LOG_TAIL_BYTES));
    running.stdout?.on('data', keep);
    running.stderr?.on('data', keep);
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    await waitReady(adminUrl, running, () => tail);

    const bundle = await fetch(`${adminUrl}/v1/trust-bundle`, { headers: { authorization: `Bearer ${ADMIN}` } });
    if (!bundle.ok) throw new Error(`trust bundle: HTTP ${bundle.status}`);
    return {
      adminUrl,
      grpcAddress: `127.0.0.1:${grpcPort}`,
      trustBundlePem: await bundle.text(),
      pid: running.pid ?? 0,
      postgresPids: async () =>
        (
          await db.query<{ pid: number }>(
            'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
          )
        ).map((row) => row.pid),
      mintJoinTokens: (count, maxUses) =>
        Promise.all(Array.from({ length: count }, (_, i) => mintJoinToken(adminUrl, `wl-${i}`, maxUses))),
      stop: async () => {
        running.kill('SIGTERM');
        await exited;
        await db.drop();
      },
    };
  } catch (error) {
    child?.kill('SIGKILL');
    await db.drop();
    throw error;
  }
}

async function waitReady(adminUrl: string, child: ChildProcess, logs: () => string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`citadel exited (${child.exitCode}):\n${logs()}`);
    const status = await fetch(`${adminUrl}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`citadel was not ready within ${timeoutMs} ms:\n${logs()}`);
}

async function mintJoinToken(adminUrl: string, serviceAccount: string, maxUses: number): Promise<string> {
  const response = await fetch(`${adminUrl}/v1/join-tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ namespace: 'bench', serviceAccount, ttlSeconds: 86_400, maxUses }),
  });
  if (response.status !== 201) throw new Error(`mint join token: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}
