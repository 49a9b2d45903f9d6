/**
 * Citadel CreateCertificate throughput, end to end, against a single-core signing baseline
 * measured in the same run. See bench/README.md. Build, then:
 *
 *   DATABASE_URL=postgres://... node dist/bench/ca/main.js [--requests N] [--concurrency 1,16,64]
 *     [--key-type rsa-2048,ecdsa-p256] [--warmup-requests 3000] [--profile DIR] [--json FILE]
 *     [--signing-workers N] [--citadel path/to/citadel/main.js] [--citadel-flags=--perf-basic-prof]
 */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CaKeyType } from '#libs/pki';
import { type Baseline, measureBaseline } from './baseline';
import { type BenchCitadel, startCitadel } from './citadel';
import { cpuSnapshot } from './cpu';
import { makeCsrPool } from './csr-pool';
import { type LoadResult, runLoad } from './load';
import { type ProfileSummary, summariseProfile } from './profile';

const KEY_TYPES: readonly CaKeyType[] = ['rsa-2048', 'ecdsa-p256'];
const MAX_JOIN_TOKEN_USES = 100_000;
const WORKLOAD_FLEET = 10_000;

interface Options {
  requests: number;
  concurrency: number[];
  keyTypes: CaKeyType[];
  csrPool: number;
  /** Timed-phase warm-up: requests per client before the clock starts (TLS handshakes). */
  warmup: number;
  /** JIT warm-up: untimed requests at the highest concurrency after Citadel starts (0: none). */
  warmupRequests: number;
  baselineSeconds: number;
  profileDir?: string;
  /** Another build's `apps/citadel/src/main.js` to measure instead (A/B in the same conditions). */
  citadelMain?: string;
  /** Extra node flags for the Citadel process, e.g. `--perf-basic-prof` for `perf record`. */
  citadelFlags: string[];
  /** CITADEL_SIGNING_WORKERS for the Citadel process; unset: Citadel's default (one per core). */
  signingWorkers?: number;
  /** Also write the raw results here, as JSON (for comparing runs). */
  jsonFile?: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '1,16,64' },
      'key-type': { type: 'string', default: 'rsa-2048,ecdsa-p256' },
      'csr-pool': { type: 'string', default: '200' },
      warmup: { type: 'string', default: '5' },
      'warmup-requests': { type: 'string', default: '3000' },
      'baseline-seconds': { type: 'string', default: '2' },
      profile: { type: 'string' },
      citadel: { type: 'string' },
      'citadel-flags': { type: 'string', default: '' },
      'signing-workers': { type: 'string' },
      json: { type: 'string' },
    },
  });
  const positive = (name: string, text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number >= 1, not "${text}"`);
    return n;
  };
  const keyTypes = values['key-type'].split(',').map((k) => {
    if (!(KEY_TYPES as readonly string[]).includes(k)) throw new Error(`--key-type: one of ${KEY_TYPES.join(', ')}`);
    return k as CaKeyType;
  });
  return {
    requests: positive('requests', values.requests),
    concurrency: values.concurrency.split(',').map((c) => positive('concurrency', c)),
    keyTypes,
    csrPool: positive('csr-pool', values['csr-pool']),
    warmup: Number(values.warmup),
    warmupRequests: Number(values['warmup-requests']),
    baselineSeconds: Number(values['baseline-seconds']),
    profileDir: values.profile ? resolve(values.profile) : undefined,
    citadelMain: values.citadel ? resolve(values.citadel) : undefined,
    citadelFlags: values['citadel-flags'].split(' ').filter(Boolean),
    signingWorkers: values['signing-workers'] === undefined ? undefined : Number(values['signing-workers']),
    jsonFile: values.json ? resolve(values.json) : undefined,
  };
}

interface KeyTypeRun {
  baseline: Baseline;
  results: LoadResult[];
  profile?: ProfileSummary;
}

async function benchKeyType(keyType: CaKeyType, opts: Options, csrPool: string[]): Promise<KeyTypeRun> {
  log(`${keyType}: single-core baseline (before)`);
  const before = measureBaseline(keyType, opts.baselineSeconds);
  const profileDir = opts.profileDir ? join(opts.profileDir, keyType) : undefined;
  const citadel = await startCitadel({
    keyType,
    profileDir,
    mainPath: opts.citadelMain,
    nodeFlags: opts.citadelFlags,
    signingWorkers: opts.signingWorkers,
  });
  const results: LoadResult[] = [];
  try {
    await warmUp(keyType, citadel, opts, csrPool);
    for (const concurrency of opts.concurrency)
      results.push(await measureLevel(keyType, citadel, concurrency, opts, csrPool));
  } finally {
    await citadel.stop();
  }
  log(`${keyType}: single-core baseline (after)`);
  const after = measureBaseline(keyType, opts.baselineSeconds);
  const baseline: Baseline = {
    keyType,
    rawSignPerSecond: (before.rawSignPerSecond + after.rawSignPerSecond) / 2,
    issuePerSecond: (before.issuePerSecond + after.issuePerSecond) / 2,
  };
  // The profile covers the last (highest) concurrency level's timed phase only.
  const profile = profileDir ? summariseProfile(profileDir, results.at(-1)?.windowNs) : undefined;
  return { baseline, results, profile };
}

/**
 * Untimed requests at the highest concurrency, so that the timed phases measure a warm JIT
 * (V8 spends a tenth of Citadel's CPU compiling during its first thousands of requests).
 */
async function warmUp(keyType: CaKeyType, citadel: BenchCitadel, opts: Options, csrPool: string[]): Promise<void> {
  if (opts.warmupRequests === 0) return;
  const concurrency = Math.max(...opts.concurrency);
  log(`${keyType}: warming up, ${opts.warmupRequests} untimed requests at concurrency ${concurrency}`);
  const result = await runLoad({
    address: citadel.grpcAddress,
    trustBundlePem: citadel.trustBundlePem,
    joinTokens: await citadel.mintJoinTokens(concurrency, Math.min(MAX_JOIN_TOKEN_USES, opts.warmupRequests)),
    csrPool,
    requests: opts.warmupRequests,
    warmupPerClient: 0,
  });
  if (result.errors > 0) throw new Error(`warm-up: ${result.errors} errors; first: ${result.firstError}`);
}

/** One timed phase: `concurrency` clients with their own join tokens and connections. */
async function measureLevel(
  keyType: CaKeyType,
  citadel: BenchCitadel,
  concurrency: number,
  opts: Options,
  csrPool: string[],
): Promise<LoadResult> {
  const uses = Math.min(MAX_JOIN_TOKEN_USES, opts.requests + opts.warmup);
  const joinTokens = await citadel.mintJoinTokens(concurrency, uses);
  log(`${keyType}: ${opts.requests} requests at concurrency ${concurrency}`);
  const result = await runLoad({
    address: citadel.grpcAddress,
    trustBundlePem: citadel.trustBundlePem,
    joinTokens,
    csrPool,
    requests: opts.requests,
    warmupPerClient: opts.warmup,
    cpu: async () => cpuSnapshot(citadel.pid, await citadel.postgresPids()),
  });
  if (result.errors > 0) log(`  ${result.errors} errors; first: ${result.firstError}`);
  log(`  ${result.perSecond.toFixed(0)} certs/s, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms`);
  return result;
}

function report(runs: KeyTypeRun[], opts: Options): string {
  const lines: string[] = [];
  const fmt = (n: number, digits = 0) => n.toFixed(digits);
  const ratio = (n: number) => `${n >= 0.1 ? n.toFixed(2) : n.toPrecision(2)}×`;
  lines.push('### Single-core baselines (in-process, this run)', '');
  lines.push('| CA key | raw `crypto.sign` sha256 /s | libs/pki `issueWorkloadCertificate` /s | issue ÷ raw |');
  lines.push('| --- | ---: | ---: | ---: |');
  for (const { baseline: b } of runs) {
    lines.push(
      `| ${b.keyType} | ${fmt(b.rawSignPerSecond)} | ${fmt(b.issuePerSecond)} | ${ratio(b.issuePerSecond / b.rawSignPerSecond)} |`,
    );
  }
  lines.push('', '### CreateCertificate end to end (gRPC over TLS, join token, sign, verify, inventory insert)', '');
  lines.push(
    '| CA key | clients | requests | errors | certs/s | p50 ms | p99 ms | ÷ raw sign (1 core) | ÷ pki issue (1 core) |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const { baseline: b, results } of runs) {
    for (const r of results) {
      lines.push(
        `| ${b.keyType} | ${r.concurrency} | ${r.requests} | ${r.errors} | ${fmt(r.perSecond)} | ${fmt(r.p50Ms, 1)} | ` +
          `${fmt(r.p99Ms, 1)} | ${ratio(r.perSecond / b.rawSignPerSecond)} | ${ratio(r.perSecond / b.issuePerSecond)} |`,
      );
    }
  }
  lines.push(...cpuTable(runs));
  lines.push('', `### Time to certify ${WORKLOAD_FLEET.toLocaleString('en')} workloads`, '');
  for (const { baseline: b, results } of runs) {
    const best = results.reduce((a, r) => (r.concurrency > a.concurrency ? r : a));
    const seconds = best.requests >= WORKLOAD_FLEET ? best.seconds : WORKLOAD_FLEET / best.perSecond;
    const how =
      best.requests >= WORKLOAD_FLEET
        ? `measured (${best.requests} requests)`
        : `extrapolated from ${best.requests} requests`;
    const floor = WORKLOAD_FLEET / b.rawSignPerSecond;
    lines.push(
      `- ${b.keyType}, ${best.concurrency} clients: ${fmt(seconds, 1)} s, ${how}; ` +
        `${ratio(seconds / floor)} the ${fmt(floor, 1)} s that raw signing alone takes on one core.`,
    );
  }
  for (const { baseline: b, profile } of runs) {
    if (!profile) continue;
    lines.push('', `### Citadel CPU profile, ${b.keyType} (${profile.file})`, '');
    lines.push(
      `${fmt(profile.sampledMs)} ms sampled${profile.windowed ? ' during the last timed phase' : ' (whole run)'}.`,
      '',
    );
    lines.push('| where (self time) | share |', '| --- | ---: |');
    for (const c of profile.categories) lines.push(`| ${c.name} | ${(c.share * 100).toFixed(1)}% |`);
    for (const w of profile.workers) {
      lines.push(`| worker thread busy (${w.file}) | ${(w.busyShare * 100).toFixed(1)}% |`);
    }
    lines.push('', '| innermost Bowline function on the stack (total time) | share |', '| --- | ---: |');
    for (const f of profile.byBowlineCaller)
      lines.push(`| \`${f.name.replace(/\|/g, '\\|')}\` | ${(f.share * 100).toFixed(1)}% |`);
    lines.push('', '| top functions (self time) | share |', '| --- | ---: |');
    for (const f of profile.selfTop)
      lines.push(`| \`${f.name.replace(/\|/g, '\\|')}\` | ${(f.share * 100).toFixed(1)}% |`);
  }
  lines.push('', `Options: ${JSON.stringify({ ...opts, profileDir: opts.profileDir ? 'set' : undefined })}`);
  return lines.join('\n');
}

/**
 * CPU time per certificate by process during each timed phase, against libs/pki's own cost
 * per certificate on one core, and the rate Citadel's CPU cost alone would allow on this
 * machine's cores if the clients and PostgreSQL ran elsewhere.
 */
function cpuTable(runs: KeyTypeRun[]): string[] {
  const cores = availableParallelism();
  const measured = runs.flatMap(({ baseline, results }) => results.filter((r) => r.cpu).map((r) => ({ baseline, r })));
  if (measured.length === 0) return [];
  const lines = ['', '### CPU per certificate during the timed phase (µs; /proc, all threads)', ''];
  lines.push(
    `| CA key | clients | Citadel | PostgreSQL | bench client | other | machine busy cores | Citadel ÷ pki issue | Citadel-only rate on ${cores} cores |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const { baseline: b, r } of measured) {
    const cpu = r.cpu!;
    lines.push(
      `| ${b.keyType} | ${r.concurrency} | ${cpu.citadelUs.toFixed(0)} | ${cpu.postgresUs.toFixed(0)} | ` +
        `${cpu.clientUs.toFixed(0)} | ${cpu.otherUs.toFixed(0)} | ${cpu.machineBusyCores.toFixed(2)} | ` +
        `${(cpu.citadelUs / (1e6 / b.issuePerSecond)).toFixed(2)}× | ${((cores * 1e6) / cpu.citadelUs).toFixed(0)}/s |`,
    );
  }
  return lines;
}

/** JSON.stringify replacer: bigints (hrtime windows) as strings. */
function jsonValue(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function log(message: string): void {
  process.stderr.write(`[bench/ca] ${message}\n`);
}

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL && !process.env.BOWLINE_TEST_DATABASE_URL) {
    throw new Error('set DATABASE_URL to a PostgreSQL server: the bench creates (and drops) a database on it');
  }
  const opts = options();
  log(`making ${opts.csrPool} P-256 CSRs with openssl`);
  const csrPool = await makeCsrPool(opts.csrPool);
  const runs: KeyTypeRun[] = [];
  for (const keyType of opts.keyTypes) runs.push(await benchKeyType(keyType, opts, csrPool));
  process.stdout.write(`${report(runs, opts)}\n`);
  if (opts.jsonFile) writeFileSync(opts.jsonFile, JSON.stringify(runs, jsonValue, 2));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`[bench/ca] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
