// The reference paths: direct (load generator → app), the nginx pair, the plain Node pair.
// Each start function returns a Path: { name, port, headers, proxies, stop() }, where
// `proxies` lists the two sidecars as { role, pids() } for CPU and memory sampling.
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { SERVER_DNS_NAME } from './certs.mjs';
import { childPids, freePort, httpRequest, startProcess, waitUntil } from './proc.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const MESH = join(HERE, '..');

/** Sends one request through a path and checks that the app's echo comes back. */
export async function checkPath(port, headers = {}) {
  const body = Buffer.alloc(1024, 'b');
  const res = await httpRequest({ port, path: '/echo', method: 'POST', headers, body });
  if (res.status !== 200 || !res.body.equals(body))
    throw new Error(`a request through port ${port} answered ${res.status} (${res.body.length} bytes)`);
  return true;
}

/** What the app saw (fortio's /debug echoes the request headers), to show what each path adds. */
export async function appView(port, headers = {}) {
  const res = await httpRequest({ port, path: '/debug', headers });
  return res.body.toString('utf8');
}

export function startDirect({ appPort }) {
  return { name: 'direct', port: appPort, headers: {}, proxies: [], stop: async () => {} };
}

export function nginxBinary() {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'])
    if (existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('nginx is not installed: run bash bench/mesh/setup.sh');
  }
}

export function nginxVersion() {
  try {
    return execFileSync(nginxBinary(), ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .toString()
      .trim();
  } catch (error) {
    return String(error.stderr ?? '')
      .trim()
      .replace(/^nginx version: /, '');
  }
}

function render(template, values) {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, key) => {
    if (!(key in values)) throw new Error(`nginx template: no value for {{${key}}}`);
    return values[key];
  });
}

/** Two nginx processes (master + 1 worker each) in the foreground, configs from bench/mesh/nginx/. */
export async function startNginx({ tmp, appPort, certsDir }) {
  const dir = join(tmp, 'nginx');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // workers run as nobody when the bench runs as root
  const nginx = nginxBinary();
  const [outboundPort, inboundPort] = [await freePort(), await freePort()];
  const values = {
    DIR: dir,
    CERTS: certsDir,
    OUTBOUND_PORT: String(outboundPort),
    INBOUND_PORT: String(inboundPort),
    SERVER_PORT: String(inboundPort),
    APP_PORT: String(appPort),
    SERVER_DNS_NAME,
  };
  const common = readFileSync(join(MESH, 'nginx', 'common.conf'), 'utf8');
  const processes = [];
  const start = (role) => {
    mkdirSync(join(dir, `${role}-tmp`), { recursive: true });
    const conf = join(dir, `${role}.conf`);
    const text =
      render(common, { ...values, ROLE: role }) +
      render(readFileSync(join(MESH, 'nginx', `${role}.conf`), 'utf8'), values);
    writeFileSync(conf, text);
    execFileSync(nginx, ['-t', '-q', '-p', dir, '-c', conf, '-e', join(dir, `${role}-error.log`)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const handle = startProcess(
      `nginx ${role} side`,
      nginx,
      ['-p', dir, '-c', conf, '-e', join(dir, `${role}-error.log`)],
      {
        logFile: join(dir, `${role}-stderr.log`),
        env: { PATH: process.env.PATH ?? '' },
      },
    );
    processes.push(handle);
    return handle;
  };
  const stopAll = () => Promise.all(processes.map((p) => p.stop()));
  try {
    const server = start('server');
    const client = start('client');
    await waitUntil(() => checkPath(outboundPort), { processes, what: 'the nginx pair to answer', timeoutMs: 15_000 });
    return {
      name: 'nginx',
      port: outboundPort,
      headers: {},
      proxies: [
        { role: 'client side', pids: () => [client.pid, ...childPids(client.pid)] },
        { role: 'server side', pids: () => [server.pid, ...childPids(server.pid)] },
      ],
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** bench/mesh/node-pair.mjs as client side and server side (one Node process each). */
export async function startNodePair({ tmp, appPort, certsDir, cpuProfDir }) {
  const dir = join(tmp, 'node-pair');
  mkdirSync(dir, { recursive: true });
  const [outboundPort, inboundPort] = [await freePort(), await freePort()];
  const processes = [];
  const start = (role, listen, upstream) => {
    const flags = [];
    if (cpuProfDir) {
      const profDir = join(cpuProfDir, `node-${role}`);
      mkdirSync(profDir, { recursive: true });
      flags.push('--cpu-prof', '--cpu-prof-dir', profDir);
    }
    const handle = startProcess(`node-pair ${role} side`, process.execPath, [...flags, join(MESH, 'node-pair.mjs')], {
      logFile: join(dir, `${role}.log`),
      env: {
        PATH: process.env.PATH ?? '',
        NODE_PAIR_ROLE: role,
        NODE_PAIR_LISTEN: String(listen),
        NODE_PAIR_UPSTREAM: String(upstream),
        NODE_PAIR_CERTS: certsDir,
      },
    });
    processes.push(handle);
    return handle;
  };
  const stopAll = () => Promise.all(processes.map((p) => p.stop()));
  try {
    const server = start('server', inboundPort, appPort);
    const client = start('client', outboundPort, inboundPort);
    await waitUntil(() => checkPath(outboundPort), { processes, what: 'the Node pair to answer', timeoutMs: 15_000 });
    return {
      name: 'node',
      port: outboundPort,
      headers: {},
      proxies: [
        { role: 'client side', pids: () => [client.pid], profileDir: cpuProfDir && join(cpuProfDir, 'node-client') },
        { role: 'server side', pids: () => [server.pid], profileDir: cpuProfDir && join(cpuProfDir, 'node-server') },
      ],
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
