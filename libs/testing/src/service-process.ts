import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, toolPath } from './repo';

export type AppName = 'citadel' | 'pilot' | 'galley' | 'policy' | 'proxy';

/** The variables naming each app's gRPC and admin ports. */
export const PORT_VARIABLES: Record<AppName, { grpc: string; admin: string }> = {
  citadel: { grpc: 'CITADEL_GRPC_PORT', admin: 'CITADEL_ADMIN_PORT' },
  pilot: { grpc: 'PILOT_XDS_PORT', admin: 'PILOT_ADMIN_PORT' },
  galley: { grpc: 'GALLEY_GRPC_PORT', admin: 'GALLEY_ADMIN_PORT' },
  policy: { grpc: 'POLICY_GRPC_PORT', admin: 'POLICY_ADMIN_PORT' },
  proxy: { grpc: 'PROXY_OUTBOUND_PORT', admin: 'PROXY_ADMIN_PORT' },
};

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A service started as its own process, the way the runner and containers start it. */
export class ServiceProcess {
  private output = '';
  private exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly app: AppName,
    private readonly child: ChildProcess,
    readonly adminUrl: string,
    readonly grpcAddress: string,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      }),
    );
  }

  /** Spawns `node dist/apps/<app>/src/main.js` on free ports with `env` added. */
  static async spawn(app: AppName, env: Record<string, string>): Promise<ServiceProcess> {
    const [grpcPort, adminPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [join(repoRoot(), 'dist', 'apps', app, 'src', 'main.js')], {
      cwd: repoRoot(),
      env: {
        PATH: process.env.PATH ?? '',
        BOWLINE_BIND_ADDRESS: '127.0.0.1',
        [PORT_VARIABLES[app].grpc]: String(grpcPort),
        [PORT_VARIABLES[app].admin]: String(adminPort),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ServiceProcess(app, child, `http://127.0.0.1:${adminPort}`, `127.0.0.1:${grpcPort}`);
  }

  /** Everything the process wrote so far (stdout and stderr). */
  get logs(): string {
    return this.output;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves when `GET path` answers `status`; fails if the process exits or time runs out. */
  async waitFor(path: string, status = 200, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exitInfo) throw new Error(`${this.app} exited (${JSON.stringify(this.exitInfo)}):\n${this.output}`);
      const answered = await fetch(this.adminUrl + path).then(
        (r) => r.status,
        () => 0,
      );
      if (answered === status) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.app}: ${path} did not answer ${status} within ${timeoutMs} ms:\n${this.output}`);
  }

  /** Waits for the process to exit by itself (e.g. a configuration error). */
  async exit(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${this.app} did not exit within ${timeoutMs} ms:\n${this.output}`)),
        timeoutMs,
      ).unref(),
    );
    return Promise.race([this.exited, timer]);
  }

  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exitInfo) this.child.kill(signal);
    return this.exit();
  }

  /** When set, grpcurl speaks TLS to this service, trusting `caFile` (e.g. Citadel's trust bundle). */
  grpcTls?: { caFile: string; serverName: string };

  /**
   * Runs grpcurl against this service: `flags` first (e.g. `-d`, `-H`, `-cert`), then the
   * address, then the last argument (`list`, or the method). Plaintext unless `grpcTls` is set.
   */
  async grpcurl(...args: string[]): Promise<string> {
    const transport = this.grpcTls
      ? ['-cacert', this.grpcTls.caFile, '-servername', this.grpcTls.serverName]
      : ['-plaintext'];
    const { stdout } = await promisify(execFile)(
      toolPath('grpcurl'),
      [...transport, ...args.slice(0, -1), this.grpcAddress, ...args.slice(-1)],
      { timeout: 15_000 },
    );
    return stdout;
  }
}
