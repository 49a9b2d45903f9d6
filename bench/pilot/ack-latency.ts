/**
 * Config apply → every proxy ACKed (Istio's "proxy convergence time"), end to end: a real Galley
 * and Pilot (each its own process, on a fresh PostgreSQL database), N simulated ADS proxies in
 * worker processes (bench/pilot/ack-clients.ts), and R rounds of one VirtualService (or
 * DestinationRule) apply through Galley's REST API, timed from the apply call until the last
 * proxy has received (and at once ACKed) the new version.
 *
 *   npm run build
 *   DATABASE_URL=postgres://... node dist/bench/pilot/ack-latency.js [--quick] [--clients 1,100,1000,2000]
 *     [--rounds 20] [--warmup 2] [--services 50] [--endpoints 10] [--sidecars 0.5] [--change vs|dr]
 *     [--workers 2] [--share-connection] [--debounce 100ms] [--settle 500] [--profile DIR]
 *
 * Each client count gets a fresh Pilot (so its memory is that of N proxies, not of the runs
 * before); Galley and the database are shared. Baselines, measured in the same run: the same
 * apply with 1 client, and Pilot's in-process recompute for N proxies (what bench/pilot/push.ts
 * measures: rebuild the registry, then generate, diff and "send" every proxy's resources, with no
 * network). Prints markdown tables. Numbers, never assertions.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import { SYSTEM_CLOCK } from '#libs/host';
import {
  createTestDatabase,
  freePort,
  PORT_VARIABLES,
  repoRoot,
  ServiceProcess,
  type TestDatabase,
} from '#libs/testing';
import { inProcessRegistry } from '../../apps/pilot/src/registry/testing';
import { allClusterNames } from '../../apps/pilot/src/xds/clusters';
import { ConfigGenerator } from '../../apps/pilot/src/xds/config-generator';
import type { AdsCall } from '../../apps/pilot/src/xds/connection';
import { DiscoveryServer } from '../../apps/pilot/src/xds/discovery-server';
import { EnvoyCodec } from '../../apps/pilot/src/xds/envoy-codec';
import { allListenerNames } from '../../apps/pilot/src/xds/listeners';
import { parseNode } from '../../apps/pilot/src/xds/node';
import { TYPE_URLS, type XdsType } from '../../apps/pilot/src/xds/types';
import { toStruct } from '#libs/proto';
import { summariseProfile } from '../ca/profile';
import type { ClientSpec, FromWorker, ToWorker } from './ack-clients';
import { type Change, changeDocument, meshDocuments, toConfigResource, toYaml } from './ack-mesh';

const ADMIN = 'bench-pilot-admin-token-0123456789abcdef';
const LOG_TAIL_BYTES = 64 * 1024;

interface Options {
  clients: number[];
  rounds: number;
  warmup: number;
  services: number;
  endpoints: number;
  sidecars: number;
  change: Change;
  workers: number;
  shareConnection: boolean;
  debounce?: string;
  settleMs: number;
  timeoutMs: number;
  window: number;
  profileDir?: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      clients: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      services: { type: 'string', default: '50' },
      endpoints: { type: 'string', default: '10' },
      sidecars: { type: 'string', default: '0.5' },
      change: { type: 'string', default: 'vs' },
      workers: { type: 'string', default: '2' },
      'share-connection': { type: 'boolean', default: false },
      debounce: { type: 'string' },
      settle: { type: 'string', default: '500' },
      timeout: { type: 'string', default: '60000' },
      window: { type: 'string', default: '100' },
      profile: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const change = values.change as Change;
  if (change !== 'vs' && change !== 'dr') throw new Error('--change is vs or dr');
  return {
    clients: (values.clients ?? (quick ? '1,100,1000' : '1,100,1000,2000')).split(',').map(Number),
    rounds: Number(values.rounds ?? (quick ? 8 : 20)),
    warmup: Number(values.warmup ?? (quick ? 1 : 2)),
    services: Number(values.services),
    endpoints: Number(values.endpoints),
    sidecars: Number(values.sidecars),
    change,
    workers: Math.max(1, Number(values.workers)),
    shareConnection: values['share-connection'] === true,
    debounce: values.debounce,
    settleMs: Number(values.settle),
    timeoutMs: Number(values.timeout),
    window: Number(values.window),
    profileDir: values.profile,
  };
}

/** Which proxies are sidecars: `share` of them, evenly spread (share 0.5: every other one, from the first). */
function specs(count: number, share: number): ClientSpec[] {
  return Array.from({ length: count }, (_, index) => ({ index, sidecar: (index * share) % 1 < share }));
}

/** The watched type: a VirtualService change reaches every proxy's RDS; a DestinationRule change the sidecars' CDS. */
const watched = (change: Change): { type: XdsType; sidecarsOnly: boolean } =>
  change === 'vs' ? { type: 'RDS', sidecarsOnly: false } : { type: 'CDS', sidecarsOnly: true };

// ---------------------------------------------------------------------------------------------
// Process accounting: /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS, VmHWM).

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // fields 14 and 15 of stat(5)
}

function memoryMb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** CPU seconds every process on the machine used so far (all cores, /proc/stat). */
function machineCpuSeconds(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}
const median = (values: readonly number[]) => percentile(values, 0.5);

function log(message: string): void {
  process.stderr.write(`[bench/pilot] ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Pilot as a process (spawned here rather than with ServiceProcess: node refuses --cpu-prof in
// NODE_OPTIONS, and the bench keeps only the tail of Pilot's log, a line per stream).

interface PilotProcess {
  pid: number;
  adminUrl: string;
  grpcAddress: string;
  logs(): string;
  stop(): Promise<void>;
}

async function startPilot(env: Record<string, string>, profileDir?: string): Promise<PilotProcess> {
  const [grpcPort, adminPort] = [await freePort(), await freePort()];
  const flags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const child: ChildProcess = spawn(process.execPath, [...flags, join(repoRoot(), 'dist/apps/pilot/src/main.js')], {
    cwd: repoRoot(),
    env: {
      PATH: process.env.PATH ?? '',
      BOWLINE_BIND_ADDRESS: '127.0.0.1',
      [PORT_VARIABLES.pilot.grpc]: String(grpcPort),
      [PORT_VARIABLES.pilot.admin]: String(adminPort),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-LOG_TAIL_BYTES));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const pilot: PilotProcess = {
    pid: child.pid!,
    adminUrl,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    logs: () => tail,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pilot exited (${child.exitCode}):\n${tail}`);
    const status = await fetch(`${adminUrl}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return pilot;
    if (Date.now() > deadline) {
      await pilot.stop();
      throw new Error(`pilot was not ready within 60 s:\n${tail}`);
    }
    await sleep(100);
  }
}

async function adminGet(baseUrl: string, path: string): Promise<any> {
  const response = await fetch(baseUrl + path, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

/** Sum and count of Pilot's convergence histogram (change seen by Pilot → the proxy's ACK) for one type. */
async function convergence(pilot: PilotProcess, type: XdsType): Promise<{ sum: number; count: number }> {
  const response = await fetch(`${pilot.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const text = await response.text();
  const read = (suffix: string) =>
    Number(
      new RegExp(
        `^bowline_pilot_proxy_convergence_seconds_${suffix}\\{type="${type.toLowerCase()}"\\} (\\S+)$`,
        'm',
      ).exec(text)?.[1] ?? NaN,
    );
  return { sum: read('sum'), count: read('count') };
}

async function apply(galley: ServiceProcess, yaml: string): Promise<void> {
  const response = await fetch(`${galley.adminUrl}/v1/resources:apply`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/yaml' },
    body: yaml,
  });
  if (response.status !== 200) throw new Error(`apply: HTTP ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
}

// ---------------------------------------------------------------------------------------------
// The client workers.

class Workers {
  private readonly children: ChildProcess[] = [];
  private readonly waiters = new Set<(message: FromWorker, worker: number) => void>();
  private failure?: string;

  constructor(count: number) {
    for (let w = 0; w < count; w++) {
      const child = fork(join(__dirname, 'ack-clients.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (message: FromWorker) => {
        if (message.ev === 'failed') this.failure ??= message.message;
        for (const waiter of [...this.waiters]) waiter(message, w);
      });
      child.on('exit', (code) => {
        if (code !== 0) this.failure ??= `client worker ${w} exited with ${code}`;
      });
      this.children.push(child);
    }
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid!);
  }

  /** Starts collecting one reply per worker that `accept` picks (before anything is sent, so none is missed). */
  expect<T extends FromWorker>(accept: (m: FromWorker) => m is T, timeoutMs: number, what: string): Promise<T[]> {
    const replies: (T | undefined)[] = this.children.map(() => undefined);
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    const waiter = (message: FromWorker, w: number) => {
      if (!accept(message)) return;
      replies[w] = message;
      if (replies.every((r) => r !== undefined)) done();
    };
    this.waiters.add(waiter);
    const deadline = Date.now() + timeoutMs;
    return (async () => {
      try {
        while (replies.some((r) => r === undefined)) {
          if (this.failure) throw new Error(`${what}: ${this.failure}`);
          if (Date.now() > deadline) throw new Error(`${what}: no answer within ${timeoutMs} ms`);
          await Promise.race([all, sleep(50)]);
        }
        return replies as T[];
      } finally {
        this.waiters.delete(waiter);
      }
    })();
  }

  send(message: (w: number) => ToWorker): void {
    this.children.forEach((child, w) => child.send(message(w)));
  }

  /** Sends `message(w)` to each worker and resolves with the replies `accept` picks, one per worker. */
  ask<T extends FromWorker>(
    message: (w: number) => ToWorker,
    accept: (m: FromWorker) => m is T,
    timeoutMs: number,
    what: string,
  ): Promise<T[]> {
    const replies = this.expect(accept, timeoutMs, what);
    this.send(message);
    return replies;
  }

  async close(): Promise<void> {
    const alive = this.children.filter((c) => c.exitCode === null && c.connected);
    await Promise.all(
      alive.map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.send({ op: 'close' } satisfies ToWorker);
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Baselines in the bench process: Pilot's recompute, no network (as bench/pilot/push.ts).

class FakeCall {
  writes = 0;
  private readonly handlers = new Map<string, ((...args: unknown[]) => void)[]>();
  on(event: string, handler: (...args: unknown[]) => void): this {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), handler]);
    return this;
  }
  emit(event: string, ...args: unknown[]): void {
    for (const handler of this.handlers.get(event) ?? []) handler(...args);
  }
  write(): boolean {
    this.writes++;
    return true;
  }
  end(): void {}
}

interface Recompute {
  /** Rebuild the registry and push to every proxy (generate, diff, write), ms, median of 5. */
  pushMs: number;
  /** The same, in CPU time of this process (all its threads: GC helpers too), ms: less sensitive to other load. */
  cpuMs: number;
  /** Of which the registry rebuild, ms. */
  rebuildMs: number;
}

function inProcessRecompute(opts: Options, clients: number): Recompute {
  const { settings, metrics, store, workloads, registry } = inProcessRegistry(
    meshDocuments(opts.services, opts.endpoints).map((d) => toConfigResource(d, 1)),
  );
  const server = new DiscoveryServer(settings, SYSTEM_CLOCK, registry, workloads, metrics);
  server.onModuleInit();
  const internals = server as unknown as { pushAll(): void; timer?: NodeJS.Timeout };
  let pushAllMs = 0;
  const pushAll = internals.pushAll.bind(server);
  internals.pushAll = () => {
    const started = performance.now();
    pushAll();
    pushAllMs = performance.now() - started;
  };
  const clusters = allClusterNames(registry.snapshot);
  const routes = allListenerNames(registry.snapshot);
  for (const spec of specs(clients, opts.sidecars)) {
    const call = new FakeCall();
    server.open(call as unknown as AdsCall);
    const request = (type: XdsType, names: string[], node?: unknown) =>
      call.emit('data', {
        version_info: '',
        node: node ?? null,
        resource_names: names,
        type_url: TYPE_URLS[type],
        response_nonce: '',
        error_detail: null,
      });
    request('CDS', [], {
      id: `sidecar~10.200.0.${spec.index & 255}~bench-${spec.index}.default~default.svc.cluster.local`,
      metadata: toStruct(spec.sidecar ? { BOWLINE_PROXY: 'sidecar', NAMESPACE: 'default' } : { NAMESPACE: 'default' }),
    });
    request('LDS', []);
    request('EDS', clusters);
    request('RDS', routes);
  }
  const pushes: number[] = [];
  const cpus: number[] = [];
  const rebuilds: number[] = [];
  for (let round = 0; round < 6; round++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    store.apply('upsert', toConfigResource(changeDocument(opts.change, round), round + 2), round + 2);
    rebuilds.push(performance.now() - started);
    pushAllMs = 0;
    clearTimeout(internals.timer); // push now, without the debounce timer
    internals.pushAll();
    const used = process.cpuUsage(cpu);
    if (round === 0) continue; // warm-up
    pushes.push(rebuilds[round] + pushAllMs);
    cpus.push((used.user + used.system) / 1000);
  }
  server.onModuleDestroy();
  return { pushMs: median(pushes), cpuMs: median(cpus), rebuildMs: median(rebuilds.slice(1)) };
}

/** push.ts's floor: generate and encode every resource of the registry once, per kind of proxy, ms. */
function encodeOnce(opts: Options): number {
  const { registry } = inProcessRegistry(
    meshDocuments(opts.services, opts.endpoints).map((d) => toConfigResource(d, 1)),
  );
  const nodes = [true, false].map((sidecar) =>
    parseNode({
      id: 'sidecar~10.9.9.9~bench.default~default.svc.cluster.local',
      cluster: '',
      metadata: toStruct(sidecar ? { BOWLINE_PROXY: 'sidecar' } : {}),
    }),
  );
  const codec = new EnvoyCodec();
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const generator = new ConfigGenerator(codec);
    const started = performance.now();
    for (const node of nodes)
      for (const type of ['LDS', 'RDS', 'CDS', 'EDS'] as XdsType[])
        generator.generate(type, registry.snapshot, node, null);
    times.push(performance.now() - started);
  }
  return median(times.slice(2));
}

// ---------------------------------------------------------------------------------------------
// One client count against a fresh Pilot.

interface SizeResult {
  clients: number;
  sidecars: number;
  connectS: number;
  /** Apply call → last proxy received, per measured round, ms. */
  lastMs: number[];
  /** Apply call → the median proxy received, per measured round, ms. */
  medianMs: number[];
  /** Apply call → the first proxy received, per measured round, ms. */
  firstMs: number[];
  /** Apply call → Galley answered (committed), per measured round, ms. */
  applyMs: number[];
  pilotCpuS: number[];
  clientCpuS: number[];
  /** CPU the rest of the machine (not Pilot, Galley, the client workers or this process) used per round, in cores. */
  otherCores: number[];
  idleRss: number;
  syncedRss: number;
  afterRss: number;
  hwm: number;
  stale: number;
  /** Pilot's own mean convergence time over the measured rounds (its histogram), ms. */
  pilotConvergenceMs: number;
  recompute: Recompute;
  window?: [bigint, bigint];
  profile?: ReturnType<typeof summariseProfile>;
}

async function runSize(
  opts: Options,
  clients: number,
  galley: ServiceProcess,
  db: TestDatabase,
  nextRound: () => number,
): Promise<SizeResult> {
  log(`${clients} clients: in-process recompute baseline`);
  const recompute = inProcessRecompute(opts, clients);
  const profileDir = opts.profileDir ? join(opts.profileDir, `clients-${clients}`) : undefined;
  const pilot = await startPilot(
    {
      DATABASE_URL: db.url,
      BOWLINE_ADMIN_TOKEN: ADMIN,
      PILOT_GALLEY_ADDRESS: galley.grpcAddress,
      ...(opts.debounce ? { PILOT_DEBOUNCE: opts.debounce } : {}),
    },
    profileDir,
  );
  let workers: Workers | undefined;
  try {
    const deadline = Date.now() + 30_000;
    while ((await adminGet(pilot.adminUrl, '/v1/registry')).services.length < opts.services) {
      if (Date.now() > deadline) throw new Error('Pilot did not get the mesh from Galley within 30 s');
      await sleep(100);
    }
    await sleep(1000);
    const idleRss = memoryMb(pilot.pid).rss;

    log(`${clients} clients: connecting`);
    const all = specs(clients, opts.sidecars);
    workers = new Workers(Math.min(opts.workers, clients));
    const count = Math.min(opts.workers, clients);
    const connectStarted = nowMs();
    await workers.ask(
      (w) => ({
        op: 'connect',
        address: pilot.grpcAddress,
        clients: all.slice(Math.floor((w * clients) / count), Math.floor(((w + 1) * clients) / count)),
        shareConnection: opts.shareConnection,
        window: Math.max(1, Math.ceil(opts.window / count)),
      }),
      (m): m is Extract<FromWorker, { ev: 'synced' }> => m.ev === 'synced',
      300_000,
      'connect and sync',
    );
    const connectS = (nowMs() - connectStarted) / 1000;
    await sleep(1000);
    const syncedRss = memoryMb(pilot.pid).rss;

    // Pilot's CPU while idle with N streams (keepalives, timers), subtracted from each round.
    const idleFrom = cpuSeconds(pilot.pid);
    const idleStarted = nowMs();
    await sleep(2000);
    const idleCpuPerMs = (cpuSeconds(pilot.pid) - idleFrom) / (nowMs() - idleStarted);

    const { type, sidecarsOnly } = watched(opts.change);
    const result: SizeResult = {
      clients,
      sidecars: all.filter((s) => s.sidecar).length,
      connectS,
      lastMs: [],
      medianMs: [],
      firstMs: [],
      applyMs: [],
      pilotCpuS: [],
      clientCpuS: [],
      otherCores: [],
      idleRss,
      syncedRss,
      afterRss: 0,
      hwm: 0,
      stale: 0,
      pilotConvergenceMs: NaN,
      recompute,
    };
    log(`${clients} clients synced in ${connectS.toFixed(1)} s; ${opts.warmup} warm-up + ${opts.rounds} rounds`);
    let windowFrom: bigint | undefined;
    let convergenceFrom = { sum: 0, count: 0 };
    for (let r = 0; r < opts.warmup + opts.rounds; r++) {
      const round = nextRound();
      const yaml = toYaml([changeDocument(opts.change, round)]);
      const done = workers.expect(
        (m): m is Extract<FromWorker, { ev: 'done' }> => m.ev === 'done' && m.round === round,
        opts.timeoutMs,
        `round ${round}: every proxy to receive the change`,
      );
      done.catch(() => undefined); // awaited below; this only keeps an early failure from being unhandled
      await workers.ask(
        () => ({ op: 'arm', round, type, sidecarsOnly }),
        (m): m is Extract<FromWorker, { ev: 'armed' }> => m.ev === 'armed' && m.round === round,
        10_000,
        'arm',
      );
      const measured = r >= opts.warmup;
      if (measured && windowFrom === undefined) {
        convergenceFrom = await convergence(pilot, type);
        windowFrom = process.hrtime.bigint();
      }
      const ours = () => [pilot.pid, galley.pid!, ...workers!.pids].map(cpuSeconds) as [number, number, ...number[]];
      const oursFrom = ours();
      const machineFrom = machineCpuSeconds();
      const selfFrom = process.cpuUsage();
      const started = nowMs();
      await apply(galley, yaml);
      const applied = nowMs();
      const replies = await done.catch(async (error: Error) => {
        const pending = await workers!
          .ask(
            () => ({ op: 'pending', round }),
            (m): m is Extract<FromWorker, { ev: 'pending' }> => m.ev === 'pending' && m.round === round,
            5_000,
            'pending',
          )
          .catch(() => []);
        const missing = pending.reduce((sum, p) => sum + p.missing, 0);
        throw new Error(`${error.message} (${missing} proxies still waiting)\n${pilot.logs().slice(-4000)}`);
      });
      const received = replies.flatMap((m) => m.receivedAt).sort((a, b) => a - b);
      await sleep(opts.settleMs);
      const elapsed = nowMs() - started;
      const used = ours().map((cpu, i) => cpu - oursFrom[i]);
      const self = process.cpuUsage(selfFrom);
      const others =
        machineCpuSeconds() - machineFrom - used.reduce((a, b) => a + b, 0) - (self.user + self.system) / 1e6;
      if (!measured) continue;
      result.lastMs.push(received[received.length - 1] - started);
      result.medianMs.push(median(received) - started);
      result.firstMs.push(received[0] - started);
      result.applyMs.push(applied - started);
      result.pilotCpuS.push(Math.max(0, used[0] - idleCpuPerMs * elapsed));
      result.clientCpuS.push(used.slice(2).reduce((a, b) => a + b, 0));
      result.otherCores.push(Math.max(0, others) / (elapsed / 1000));
      if (r === opts.warmup + opts.rounds - 1) result.window = [windowFrom!, process.hrtime.bigint()];
    }
    const convergenceTo = await convergence(pilot, type);
    result.pilotConvergenceMs =
      ((convergenceTo.sum - convergenceFrom.sum) / (convergenceTo.count - convergenceFrom.count)) * 1000;
    const memory = memoryMb(pilot.pid);
    result.afterRss = memory.rss;
    result.hwm = memory.hwm;

    // Pilot's own view: every stream ACKed the last version of every type.
    const status = await adminGet(pilot.adminUrl, '/v1/proxy-status');
    const proxies = status.proxies as { proxy: string; xds: Record<string, { status: string }> }[];
    if (proxies.length !== clients) throw new Error(`proxy-status lists ${proxies.length} streams, not ${clients}`);
    const sidecarsSeen = proxies.filter((p) => p.proxy === 'sidecar').length;
    if (sidecarsSeen !== result.sidecars)
      throw new Error(`Pilot sees ${sidecarsSeen} sidecars, not ${result.sidecars}`);
    result.stale = proxies.filter((p) => Object.values(p.xds).some((x) => x.status !== 'SYNCED')).length;
    return result;
  } finally {
    await workers?.close();
    await pilot.stop();
  }
}

// ---------------------------------------------------------------------------------------------

function report(opts: Options, results: SizeResult[], encodeMs: number, galleyCpu: number): string {
  const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
  const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');
  const one = results.find((r) => r.clients === 1);
  const hundred = results.find((r) => r.clients === 100);
  const p = (r: SizeResult | undefined, q: number) => (r ? percentile(r.lastMs, q) : NaN);
  const { type, sidecarsOnly } = watched(opts.change);
  const lines: string[] = [];
  lines.push(
    `Change: ${opts.change === 'vs' ? 'VirtualService weights of svc-0' : 'DestinationRule connection limit of svc-0'}; ` +
      `waited for: ${type} on ${sidecarsOnly ? 'every sidecar' : 'every proxy'}. Mesh: ${opts.services} services × ` +
      `${opts.endpoints} endpoints; ${opts.rounds} measured rounds (+${opts.warmup} warm-up) per size; ` +
      `${opts.shareConnection ? 'one shared HTTP/2 connection per worker' : 'one TCP connection per proxy'}, ` +
      `${opts.workers} client worker process(es); Pilot debounce ${opts.debounce ?? 'default (100ms)'}.`,
    '',
    `Baselines, same run: 1 client p50 ${f(percentile(one?.lastMs ?? [], 0.5))} ms, p99 ${f(p(one, 0.99))} ms; ` +
      `generate + encode the whole registry once per kind of proxy (push.ts's floor) ${f(encodeMs, 2)} ms.`,
    '',
    "| clients | sidecars | apply → last proxy p50 ms | p99 ms | first proxy p50 ms | median proxy p50 ms | Pilot's mean, seen → ACK ms | apply HTTP p50 ms | p99 ÷ 1 client | p99 ÷ 100 clients | in-process recompute ms | p50 ÷ recompute | other load (cores) |",
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of results) {
    lines.push(
      `| ${r.clients} | ${r.sidecars} | ${f(percentile(r.lastMs, 0.5))} | ${f(p(r, 0.99))} | ${f(median(r.firstMs))} | ` +
        `${f(median(r.medianMs))} | ${f(r.pilotConvergenceMs)} | ${f(median(r.applyMs))} | ${x(p(r, 0.99) / p(one, 0.99))} | ` +
        `${x(p(r, 0.99) / p(hundred, 0.99))} | ${f(r.recompute.pushMs, 1)} | ` +
        `${x(percentile(r.lastMs, 0.5) / r.recompute.pushMs)} | ${f(median(r.otherCores), 2)} |`,
    );
  }
  lines.push(
    '',
    '| clients | connect → all synced s | Pilot CPU s/push | in-process recompute CPU s | Pilot CPU ÷ recompute CPU | client workers CPU s/push | Pilot RSS idle MB | RSS synced MB | RSS after pushes MB | VmHWM MB | RSS synced ÷ idle | after pushes ÷ idle | (synced − idle) per 1,000 clients MB | not SYNCED at the end |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of results) {
    // Below 100 clients the growth is within the noise of a fresh process's RSS.
    const growth = r.clients >= 100 ? ((r.syncedRss - r.idleRss) / r.clients) * 1000 : NaN;
    const cpu = median(r.pilotCpuS);
    lines.push(
      `| ${r.clients} | ${f(r.connectS)} | ${f(cpu, 3)} | ${f(r.recompute.cpuMs / 1000, 3)} | ` +
        `${x((cpu * 1000) / r.recompute.cpuMs)} | ` +
        `${f(median(r.clientCpuS), 3)} | ${f(r.idleRss, 0)} | ${f(r.syncedRss, 0)} | ${f(r.afterRss, 0)} | ${f(r.hwm, 0)} | ` +
        `${x(r.syncedRss / r.idleRss)} | ${x(r.afterRss / r.idleRss)} | ${f(growth)} | ${r.stale} |`,
    );
  }
  lines.push(
    '',
    `Latency columns are the median (p50) and nearest-rank p99 over the rounds (with ${opts.rounds} rounds, p99 is the ` +
      "slowest). CPU columns are medians per round; Pilot's excludes its idle rate with the same streams open. " +
      '"Other load": CPU the rest of the machine used during the rounds, in cores (of 2): noise, not Bowline.',
  );
  lines.push('', `Galley CPU over the whole run: ${f(galleyCpu)} s.`);
  for (const r of results) {
    if (!r.profile) continue;
    lines.push('', `### Pilot CPU profile, ${r.clients} clients (${r.profile.file})`, '');
    lines.push(`${f(r.profile.sampledMs, 0)} ms sampled during the measured rounds.`, '');
    lines.push('| innermost Bowline function on the stack (total time) | share |', '| --- | ---: |');
    for (const c of r.profile.byBowlineCaller)
      lines.push(`| \`${c.name.replace(/\|/g, '\\|')}\` | ${(c.share * 100).toFixed(1)}% |`);
    lines.push('', '| top functions (self time) | share |', '| --- | ---: |');
    for (const c of r.profile.selfTop)
      lines.push(`| \`${c.name.replace(/\|/g, '\\|')}\` | ${(c.share * 100).toFixed(1)}% |`);
  }
  lines.push('', `Options: ${JSON.stringify(opts)}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL && !process.env.BOWLINE_TEST_DATABASE_URL) {
    throw new Error('set DATABASE_URL to a PostgreSQL server: the bench creates (and drops) a database on it');
  }
  Logger.overrideLogger(false);
  const opts = options();
  const encodeMs = encodeOnce(opts);
  const db = await createTestDatabase('bowline_bench');
  let galley: ServiceProcess | undefined;
  try {
    await db.migrate();
    galley = await ServiceProcess.spawn('galley', { DATABASE_URL: db.url, BOWLINE_ADMIN_TOKEN: ADMIN });
    await galley.waitFor('/readyz');
    await apply(galley, toYaml(meshDocuments(opts.services, opts.endpoints)));
    let round = 0;
    const results: SizeResult[] = [];
    for (const clients of opts.clients) {
      const result = await runSize(opts, clients, galley, db, () => round++);
      if (opts.profileDir && result.window) {
        result.profile = summariseProfile(join(opts.profileDir, `clients-${clients}`), result.window);
      }
      results.push(result);
      log(
        `${clients} clients: p50 ${median(result.lastMs).toFixed(0)} ms, p99 ${percentile(result.lastMs, 0.99).toFixed(0)} ms, ` +
          `RSS ${result.afterRss.toFixed(0)} MB`,
      );
    }
    const galleyCpu = galley.pid ? cpuSeconds(galley.pid) : NaN;
    process.stdout.write(`${report(opts, results, encodeMs, galleyCpu)}\n`);
  } finally {
    await galley?.stop();
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`[bench/pilot] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
