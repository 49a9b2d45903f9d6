#!/usr/bin/env node
// bench/mesh: the data plane's cost, measured against baselines in the same run.
//   node bench/mesh/run.mjs [--quick] [--cpu-prof] [--paths direct,nginx,bowline] [--rounds N]
// Paths: direct (load generator → app), nginx (a pair of nginx reverse proxies doing the same
// mTLS hop), bowline (Bowline's two sidecars, identities from a real Citadel), node (an
// optional plain node:http/https proxy pair, the issue's "straightforward Node" reference).
// Each path gets fortio at a fixed rate (1,000 requests/s, 16 connections, 1 KB bodies, 20 s
// after a 3 s warm-up) while the proxies' CPU time is read from /proc, then fortio at maximum
// rate (15 s). Results: added latency (path − direct, same run), max throughput, proxy CPU per
// 1,000 requests/s and RSS, and Bowline ÷ nginx ratios, printed as Markdown and written to
// bench/mesh/results/<timestamp>.json. See bench/mesh/README.md.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AUTHZ_POLICY_COUNT, BowlineNotReady, startBowline, startBowlineAuthz } from './lib/bowline.mjs';
import { makeCertificates } from './lib/certs.mjs';
import { fortioPath, fortioVersion, runLoad, startEchoServer, stopLoads } from './lib/fortio.mjs';
import { appView, checkPath, nginxVersion, startDirect, startNginx, startNodePair } from './lib/paths.mjs';
import { cpuSeconds, freePort, killAll, memory, waitUntil } from './lib/proc.mjs';
import { formatSummary, summariseProfile } from './profile-summary.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const KNOWN_PATHS = ['direct', 'nginx', 'bowline', 'bowline-authz', 'node'];
const STARTERS = {
  direct: startDirect,
  nginx: startNginx,
  bowline: startBowline,
  'bowline-authz': startBowlineAuthz,
  node: startNodePair,
};
const MB = 1024 * 1024;

const say = (text) => process.stderr.write(`bench/mesh | ${text}\n`);
const out = (text = '') => process.stdout.write(`${text}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      paths: { type: 'string', default: 'direct,nginx,bowline' },
      rounds: { type: 'string', default: '1' },
      qps: { type: 'string', default: '1000' },
      connections: { type: 'string', default: '16' },
      'payload-size': { type: 'string', default: '1024' },
      duration: { type: 'string' },
      'max-duration': { type: 'string' },
      warmup: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'proxy-main': { type: 'string' },
      'decision-logs': { type: 'string', default: 'off' },
      'authz-cache': { type: 'string', default: '4096' },
      'authz-rego': { type: 'boolean', default: false },
      'skip-setup': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out(
      [
        'usage: node bench/mesh/run.mjs [options]',
        '  --paths direct,nginx,bowline   paths to measure (also: bowline-authz, node); direct is always measured',
        '  --quick                        5 s runs, 1 s warm-up (smoke test)',
        '  --cpu-prof                     run the Node proxies under --cpu-prof and summarise the profiles',
        '  --rounds N                     repeat every run N times, interleaved; report medians (default 1)',
        '  --qps 1000 --connections 16 --payload-size 1024',
        '  --duration S --max-duration S --warmup S   (default 20, 15, 3; --quick: 5, 5, 1)',
        '  --keep                         keep the scratch directory (configs, logs, certificates)',
        '  --skip-setup                   do not run bench/mesh/setup.sh first',
        '  --decision-logs on|denied|off  bowline-authz: the server sidecar sends every decision (denied: the denials) to the policy service (default off)',
        "  --authz-cache N                bowline-authz: the server sidecar's PROXY_AUTHZ_CACHE_ENTRIES (default 4096, the proxy's; 0: every request evaluated)",
        '  --authz-rego                   bowline-authz: the server sidecar also enforces a Rego RBAC policy (PROXY_POLICY_NAME)',
        '  --proxy-main FILE              the sidecar entry point (default dist/apps/proxy/src/main.js)',
      ].join('\n'),
    );
    process.exit(0);
  }
  const paths = values.paths
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of paths)
    if (!KNOWN_PATHS.includes(p)) throw new Error(`unknown path '${p}' (known: ${KNOWN_PATHS.join(', ')})`);
  if (!paths.includes('direct')) paths.unshift('direct'); // the baseline every added latency is taken against
  const oneOf = (v, allowed, name) => {
    if (!allowed.includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}`);
    return v;
  };
  const num = (v, name) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number`);
    return n;
  };
  return {
    paths: [...new Set(paths)],
    quick: values.quick,
    cpuProf: values['cpu-prof'],
    rounds: Math.max(1, Math.floor(num(values.rounds, 'rounds'))),
    qps: num(values.qps, 'qps'),
    connections: num(values.connections, 'connections'),
    payloadSize: num(values['payload-size'], 'payload-size'),
    fixedSeconds: num(values.duration ?? (values.quick ? 5 : 20), 'duration'),
    maxSeconds: num(values['max-duration'] ?? (values.quick ? 5 : 15), 'max-duration'),
    warmupSeconds: num(values.warmup ?? (values.quick ? 1 : 3), 'warmup'),
    keep: values.keep,
    skipSetup: values['skip-setup'],
    proxyMain: values['proxy-main'],
    decisionLogs: oneOf(values['decision-logs'], ['on', 'denied', 'off'], 'decision-logs'),
    authzCache: Math.max(0, Math.floor(num(values['authz-cache'], 'authz-cache'))),
    authzRego: values['authz-rego'],
  };
}

/** CPU seconds and memory of one sidecar (summed over its processes: nginx master + worker). */
function sample(proxy) {
  const pids = proxy.pids();
  const mem = pids.map(memory);
  return {
    pids,
    cpu: pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    rss: mem.reduce((s, m) => s + m.rss, 0),
    hwm: mem.reduce((s, m) => s + m.hwm, 0),
    pss: mem.reduce((s, m) => s + m.pss, 0),
  };
}

/** One fortio run through `path`, with the proxies' (and the app's) CPU time around it. */
async function measure(fortio, path, app, opts, { qps, seconds }) {
  const before = path.proxies.map(sample);
  const appBefore = cpuSeconds(app.pid);
  const t0 = process.hrtime.bigint();
  const result = await runLoad(fortio, {
    port: path.port,
    headers: path.headers,
    qps,
    seconds,
    connections: opts.connections,
    payloadSize: opts.payloadSize,
  });
  const t1 = process.hrtime.bigint();
  const wallS = Number(t1 - t0) / 1e9;
  const requests = result.count + opts.connections; // fortio sends one warm-up request per connection
  const proxies = path.proxies.map((proxy, i) => {
    const after = sample(proxy);
    const cpu = after.cpu - before[i].cpu;
    return {
      role: proxy.role,
      pids: after.pids,
      cpuSeconds: cpu,
      cores: cpu / wallS,
      coresPer1kRps: (cpu / requests) * 1000,
      rssMB: after.rss / MB,
      peakRssMB: after.hwm / MB,
      pssMB: after.pss / MB,
    };
  });
  const appCpu = cpuSeconds(app.pid) - appBefore;
  return {
    ...result,
    wallS,
    windowNs: [String(t0), String(t1)],
    proxies,
    pairCoresPer1kRps: proxies.reduce((s, p) => s + p.coresPer1kRps, 0),
    pairCores: proxies.reduce((s, p) => s + p.cores, 0),
    appCoresPer1kRps: (appCpu / requests) * 1000,
  };
}

/** Formats JSON as the repository's Prettier would, so `npm run lint` passes over results/. */
async function prettierJson(text, file) {
  try {
    const prettier = await import('prettier');
    return await prettier.format(text, { ...(await prettier.resolveConfig(file)), parser: 'json' });
  } catch {
    return text;
  }
}

const median = (values) => {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};

/**
 * The in-proxy decision times of one fixed-rate run: the difference of the server sidecar's
 * histogram before and after it. Quantiles are interpolated linearly inside their bucket
 * (buckets 5 µs to 10 ms), so they are estimates; `within50` is exact (50 µs is a bound).
 */
function decisionTimes(before, after) {
  const count = after.count - before.count;
  const cumulative = after.buckets.map(([le, n], i) => [le, n - before.buckets[i][1]]);
  const quantile = (q) => {
    const rank = q * count;
    let lower = 0;
    let below = 0;
    for (const [le, n] of cumulative) {
      if (n >= rank) return le === Infinity ? lower : lower + ((le - lower) * (rank - below)) / Math.max(1, n - below);
      [lower, below] = [le, n];
    }
    return lower;
  };
  const within = (bound) => (cumulative.find(([le]) => le === bound)?.[1] ?? NaN) / count;
  return {
    count,
    meanMicros: ((after.sum - before.sum) / count) * 1e6,
    p50Micros: quantile(0.5) * 1e6,
    p99Micros: quantile(0.99) * 1e6,
    within50: within(0.00005),
  };
}

/**
 * A 95% interval for the median of `values` (percentile bootstrap, 10,000 resamples, a fixed
 * seed so one run's report reads the same twice): how far the median of so few noisy rounds can
 * be trusted.
 */
function bootstrapMedian(values) {
  let seed = 0x9e3779b9;
  const random = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const medians = [];
  for (let i = 0; i < 10_000; i++) medians.push(median(values.map(() => values[Math.floor(random() * values.length)])));
  medians.sort((a, b) => a - b);
  return [medians[249], medians[9749]];
}

/** Medians over rounds; added latency is taken per round against that round's direct run. */
function aggregate(name, runs, directRuns) {
  const fixed = runs.map((r) => r.fixed);
  const max = runs.map((r) => r.max);
  const addedByRound = (q) => fixed.map((f, i) => f[q] - directRuns[i].fixed[q]);
  const added = (q) => median(addedByRound(q));
  const proxyRoles = fixed[0].proxies.map((p) => p.role);
  return {
    name,
    fixed: {
      actualQps: median(fixed.map((f) => f.actualQps)),
      p50: median(fixed.map((f) => f.p50)),
      p90: median(fixed.map((f) => f.p90)),
      p99: median(fixed.map((f) => f.p99)),
      p999: median(fixed.map((f) => f.p999)),
      errors: fixed.reduce((s, f) => s + f.errors, 0),
      addedP50: added('p50'),
      /** Each round's added latency, for the spread of a ratio between two paths. */
      addedByRound: { p50: addedByRound('p50'), p90: addedByRound('p90'), p99: addedByRound('p99') },
      /** Each round's end-to-end p50. */
      p50ByRound: fixed.map((f) => f.p50),
      addedP90: added('p90'),
      addedP99: added('p99'),
      pairCoresPer1kRps: median(fixed.map((f) => f.pairCoresPer1kRps)),
      appCoresPer1kRps: median(fixed.map((f) => f.appCoresPer1kRps)),
      ...(fixed[0].decisions
        ? {
            decisions: {
              count: median(fixed.map((f) => f.decisions.count)),
              meanMicros: median(fixed.map((f) => f.decisions.meanMicros)),
              p50Micros: median(fixed.map((f) => f.decisions.p50Micros)),
              p99Micros: median(fixed.map((f) => f.decisions.p99Micros)),
              within50: median(fixed.map((f) => f.decisions.within50)),
            },
          }
        : {}),
    },
    max: {
      qps: median(max.map((m) => m.actualQps)),
      p50: median(max.map((m) => m.p50)),
      p99: median(max.map((m) => m.p99)),
      errors: max.reduce((s, m) => s + m.errors, 0),
      pairCores: median(max.map((m) => m.pairCores)),
    },
    proxies: proxyRoles.map((role, i) => ({
      role,
      coresPer1kRps: median(fixed.map((f) => f.proxies[i].coresPer1kRps)),
      rssMB: median(fixed.map((f) => f.proxies[i].rssMB)),
      pssMB: median(fixed.map((f) => f.proxies[i].pssMB)),
      // Peak over the whole run, maximum rate included.
      peakRssMB: Math.max(...max.map((m) => m.proxies[i].peakRssMB)),
      coresAtMax: median(max.map((m) => m.proxies[i].cores)),
    })),
  };
}

function ratios(a, b) {
  return {
    addedP50: a.fixed.addedP50 / b.fixed.addedP50,
    addedP90: a.fixed.addedP90 / b.fixed.addedP90,
    addedP99: a.fixed.addedP99 / b.fixed.addedP99,
    maxQps: a.max.qps / b.max.qps,
    pairCoresPer1kRps: a.fixed.pairCoresPer1kRps / b.fixed.pairCoresPer1kRps,
    maxRssMB: Math.max(...a.proxies.map((p) => p.peakRssMB)) / Math.max(...b.proxies.map((p) => p.peakRssMB)),
  };
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '–');
const k = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const times = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');

function report(opts, agg, failures, profiles) {
  const lines = [];
  const by = Object.fromEntries(agg.map((a) => [a.name, a]));
  const medianOf = opts.rounds > 1 ? `, median of ${opts.rounds} rounds` : '';
  lines.push(
    `### Fixed rate: ${k(opts.qps)} requests/s, ${opts.connections} connections, ${opts.payloadSize}-byte bodies, ${opts.fixedSeconds} s${medianOf}`,
    '',
    'Latency in ms (context only); "added" = path − direct in the same run.',
    '',
    '| path | achieved rps | p50 | p90 | p99 | added p50 | added p90 | added p99 | non-200 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const a of agg)
    lines.push(
      `| ${a.name} | ${k(a.fixed.actualQps)} | ${f3(a.fixed.p50)} | ${f3(a.fixed.p90)} | ${f3(a.fixed.p99)} | ` +
        `${a.name === 'direct' ? '–' : f3(a.fixed.addedP50)} | ${a.name === 'direct' ? '–' : f3(a.fixed.addedP90)} | ` +
        `${a.name === 'direct' ? '–' : f3(a.fixed.addedP99)} | ${a.fixed.errors} |`,
    );
  lines.push(
    '',
    `### Maximum rate: ${opts.connections} connections, ${opts.maxSeconds} s${medianOf}`,
    '',
    '| path | requests/s (context) | ÷ direct | ÷ nginx | p50 ms | p99 ms | proxy pair CPU, cores | non-200 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const a of agg)
    lines.push(
      `| ${a.name} | ${k(a.max.qps)} | ${times(a.max.qps / by.direct.max.qps)} | ${by.nginx ? times(a.max.qps / by.nginx.max.qps) : '–'} | ` +
        `${f3(a.max.p50)} | ${f3(a.max.p99)} | ${a.proxies.length ? f2(a.max.pairCores) : '–'} | ${a.max.errors} |`,
    );
  lines.push(
    '',
    `### Proxy cost (CPU during the fixed-rate run; RSS after it; peak RSS over the whole run)`,
    '',
    '| path | sidecar | CPU cores per 1,000 rps | RSS MB | PSS MB | peak RSS MB | cores at max rate |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const a of agg) {
    for (const p of a.proxies)
      lines.push(
        `| ${a.name} | ${p.role} | ${f3(p.coresPer1kRps)} | ${f1(p.rssMB)} | ${f1(p.pssMB)} | ${f1(p.peakRssMB)} | ${f2(p.coresAtMax)} |`,
      );
    if (a.proxies.length)
      lines.push(`| ${a.name} | **pair** | **${f3(a.fixed.pairCoresPer1kRps)}** | | | | **${f2(a.max.pairCores)}** |`);
  }
  lines.push(
    '',
    `App (fortio echo server) CPU per 1,000 rps, the same work on every path: ${agg.map((a) => `${a.name} ${f3(a.fixed.appCoresPer1kRps)}`).join(', ')}.`,
  );

  const result = {};
  if (by.nginx) {
    lines.push('', '### Ratios against the nginx pair, same run', '');
    const compared = agg.filter((a) => a.name !== 'direct' && a.name !== 'nginx');
    for (const a of compared) result[a.name] = ratios(a, by.nginx);
    if (compared.length) {
      lines.push(
        `| metric | ${compared.map((a) => `${a.name} ÷ nginx`).join(' | ')} | Bowline goal |`,
        `| --- | ${compared.map(() => '---:').join(' | ')} | --- |`,
      );
      const row = (label, key, goal) =>
        lines.push(`| ${label} | ${compared.map((a) => times(result[a.name][key])).join(' | ')} | ${goal} |`);
      row('added p50', 'addedP50', '≤ 1.5×');
      row('added p90', 'addedP90', '≤ 1.5×');
      row('added p99', 'addedP99', '≤ 1.5×');
      row('max throughput', 'maxQps', '≥ 0.6×');
      row('pair CPU per 1,000 rps', 'pairCoresPer1kRps', '–');
      row('peak RSS of the larger sidecar', 'maxRssMB', '< 60 MB per sidecar (absolute)');
    } else lines.push('(No path besides direct and nginx was measured.)');
    lines.push(
      '',
      `nginx ÷ direct: max throughput ${times(by.nginx.max.qps / by.direct.max.qps)}; ` +
        `nginx added p50 ${f3(by.nginx.fixed.addedP50)} ms = ${times(by.nginx.fixed.p50 / by.direct.fixed.p50)} the direct p50.`,
    );
    if (by.bowline) {
      const r = result.bowline;
      const peak = Math.max(...by.bowline.proxies.map((p) => p.peakRssMB));
      const verdict = (ok) => (ok ? 'met' : '**not met**');
      lines.push(
        '',
        `Bowline goals: added latency ≤ 1.5× nginx's (p50 ${times(r.addedP50)}, p90 ${times(r.addedP90)}, p99 ${times(r.addedP99)}: ` +
          `${verdict(Math.max(r.addedP50, r.addedP90, r.addedP99) <= 1.5)}); max throughput ≥ 0.6× nginx's ` +
          `(${times(r.maxQps)}: ${verdict(r.maxQps >= 0.6)}); RSS < 60 MB per sidecar (peak ${f1(peak)} MB: ${verdict(peak < 60)}).`,
      );
    }
  }
  if (by.bowline && by['bowline-authz']) {
    const [off, on] = [by.bowline, by['bowline-authz']];
    const share = (key) => `${((on.fixed[key] / off.fixed[key] - 1) * 100).toFixed(1)}%`;
    // The ratio round by round (both paths ran in each round, in rotated order): its median, a
    // 95% bootstrap interval of that median (rounds resampled), and its spread.
    const paired = (ons, offs) => {
      const ratios = ons.map((a, i) => a / offs[i]);
      if (ratios.length < 2) return '–';
      const [low, high] = bootstrapMedian(ratios);
      return `${f2(median(ratios))} [${f2(low)}, ${f2(high)}]; ${f2(Math.min(...ratios))}–${f2(Math.max(...ratios))}`;
    };
    const spread = (q) => paired(on.fixed.addedByRound[q], off.fixed.addedByRound[q]);
    lines.push(
      '',
      `### Authorization on vs off (bowline-authz: the server sidecar evaluates ${AUTHZ_POLICY_COUNT} AuthorizationPolicies${opts.authzRego ? ' and a Rego RBAC policy' : ''} per request, decision logs ${opts.decisionLogs}, decision cache ${opts.authzCache > 0 ? `${opts.authzCache} entries: fortio repeats one request, so all but the first are hits` : 'off: every request evaluated'})`,
      '',
      '| metric | bowline-authz ÷ bowline (medians) | authorization adds | the ratio round by round: median [95% interval]; range | goal |',
      '| --- | ---: | ---: | ---: | --- |',
      `| added p50 | ${times(on.fixed.addedP50 / off.fixed.addedP50)} | ${share('addedP50')} | ${spread('p50')} | < 10% |`,
      `| added p90 | ${times(on.fixed.addedP90 / off.fixed.addedP90)} | ${share('addedP90')} | ${spread('p90')} | < 10% |`,
      `| added p99 | ${times(on.fixed.addedP99 / off.fixed.addedP99)} | ${share('addedP99')} | ${spread('p99')} | < 10% |`,
      `| p50 end to end | ${times(on.fixed.p50 / off.fixed.p50)} | ${share('p50')} | ${paired(on.fixed.p50ByRound, off.fixed.p50ByRound)} | < 10% |`,
      `| max throughput | ${times(on.max.qps / off.max.qps)} | – | – | – |`,
      `| pair CPU per 1,000 rps | ${times(on.fixed.pairCoresPer1kRps / off.fixed.pairCoresPer1kRps)} | – | – | – |`,
    );
    const d = on.fixed.decisions;
    if (d)
      lines.push(
        '',
        `In-proxy decision time during the fixed-rate runs (the server sidecar's ` +
          `bowline_proxy_authorization_duration_seconds, median of rounds, ${k(d.count)} decisions a round): ` +
          `mean ${f1(d.meanMicros)} µs, p50 ≈ ${f1(d.p50Micros)} µs, p99 ≈ ${f1(d.p99Micros)} µs ` +
          `(interpolated in 5 µs–10 ms buckets); ${(d.within50 * 100).toFixed(2)}% of decisions took 50 µs or less.`,
      );
  }
  for (const [name, message] of Object.entries(failures))
    lines.push('', `**${name}: not measured.** ${message.split('\n')[0].replace(/; its log .*$/, '.')}`);
  for (const p of profiles) lines.push('', ...formatSummary(p.summary, p.title));
  return { markdown: lines.join('\n'), ratios: result };
}

async function main() {
  const opts = options();
  if (!existsSync('/proc/self/stat')) throw new Error('bench/mesh reads /proc: it runs on Linux only');
  if (!opts.skipSetup) {
    const setup = spawnSync('bash', [join(HERE, 'setup.sh')], { stdio: 'inherit' });
    if (setup.status !== 0) throw new Error(`bench/mesh/setup.sh failed (exit ${setup.status})`);
  }
  const fortio = fortioPath(ROOT);
  if (!existsSync(fortio)) throw new Error(`${fortio} is missing: run bash bench/mesh/setup.sh`);

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(HERE, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'bowline-bench-mesh-'));
  chmodSync(tmp, 0o755); // nginx workers (nobody) and an embedded PostgreSQL (postgres) reach into it
  const cpuProfDir = opts.cpuProf ? join(resultsDir, `${stamp}-profiles`) : undefined;
  const started = [];
  const failures = {};
  let app;
  let keepTmp = opts.keep;
  let stopping;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const path of [...started].reverse())
        await path.stop().catch((e) => say(`stopping ${path.name}: ${e.message}`));
      await app?.stop();
    })());
  const interrupted = (signal) => {
    say(`${signal}: stopping everything (Ctrl-C again to kill it all at once)`);
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
    stopLoads();
    stopAll().finally(() => {
      if (!keepTmp) rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    const certsDir = join(tmp, 'certs');
    mkdirSync(certsDir);
    chmodSync(certsDir, 0o755);
    makeCertificates(certsDir);
    const appPort = await freePort();
    app = startEchoServer(fortio, appPort, join(tmp, 'app.log'));
    await waitUntil(() => checkPath(appPort), { processes: [app], what: 'the app (fortio server)' });

    for (const name of opts.paths) {
      say(`starting path: ${name}`);
      try {
        const path = await STARTERS[name]({
          root: ROOT,
          tmp,
          appPort,
          certsDir,
          cpuProfDir,
          proxyMain: opts.proxyMain,
          decisionLogs: opts.decisionLogs,
          authzCache: opts.authzCache,
          authzRego: opts.authzRego,
          say,
        });
        started.push(path);
        const seen = await appView(path.port, path.headers).catch(() => '');
        const xfcc = /x-forwarded-client-cert: (.*)/i.exec(seen)?.[1];
        if (name !== 'direct') say(`  ${name}: the app sees X-Forwarded-Client-Cert: ${xfcc ?? '(none)'}`);
      } catch (error) {
        keepTmp = true;
        failures[name] = error.message;
        say(`${name}: FAILED TO START\n${error instanceof BowlineNotReady ? error.message : error.stack}`);
      }
    }
    const paths = [...started];
    if (!paths.find((p) => p.name === 'direct')) throw new Error('the direct path did not start');

    // Fixed rate first (every path, every round, order rotated per round), then maximum rate.
    const runs = Object.fromEntries(paths.map((p) => [p.name, []]));
    const loadBefore = loadavg();
    for (let round = 0; round < opts.rounds; round++) {
      const order = paths.map((_, i) => paths[(i + round) % paths.length]);
      for (const path of order) {
        say(
          `round ${round + 1}/${opts.rounds} ${path.name}: warm-up ${opts.warmupSeconds} s, then ${k(opts.qps)} rps × ${opts.fixedSeconds} s`,
        );
        if (opts.warmupSeconds > 0)
          await runLoad(fortio, {
            port: path.port,
            headers: path.headers,
            qps: opts.qps,
            seconds: opts.warmupSeconds,
            connections: opts.connections,
            payloadSize: opts.payloadSize,
          });
        const decisionsBefore = await path.authorizationHistogram?.();
        const fixed = await measure(fortio, path, app, opts, { qps: opts.qps, seconds: opts.fixedSeconds });
        if (decisionsBefore) fixed.decisions = decisionTimes(decisionsBefore, await path.authorizationHistogram());
        say(`  p50 ${f3(fixed.p50)} ms, p99 ${f3(fixed.p99)} ms, ${k(fixed.actualQps)} rps, ${fixed.errors} non-200`);
        runs[path.name][round] = { fixed };
        await sleep(1000);
      }
    }
    for (let round = 0; round < opts.rounds; round++) {
      const order = paths.map((_, i) => paths[(i + round) % paths.length]);
      for (const path of order) {
        say(`round ${round + 1}/${opts.rounds} ${path.name}: maximum rate × ${opts.maxSeconds} s`);
        const max = await measure(fortio, path, app, opts, { qps: 0, seconds: opts.maxSeconds });
        say(`  ${k(max.actualQps)} rps, p50 ${f3(max.p50)} ms, ${max.errors} non-200`);
        runs[path.name][round].max = max;
        await sleep(1000);
      }
    }
    const loadAfter = loadavg();

    // Stop the proxies (a clean exit writes their CPU profiles), then summarise the profiles.
    await stopAll();
    const profiles = [];
    if (cpuProfDir) {
      for (const path of paths)
        for (const proxy of path.proxies) {
          if (!proxy.profileDir) continue;
          const last = runs[path.name].at(-1);
          for (const [phase, run] of [
            ['fixed rate', last.fixed],
            ['maximum rate', last.max],
          ]) {
            try {
              const summary = summariseProfile(proxy.profileDir, {
                windowNs: run.windowNs.map(BigInt),
                top: 15,
              });
              profiles.push({
                path: path.name,
                role: proxy.role,
                phase,
                summary,
                title: `${path.name} ${proxy.role}, ${phase}`,
              });
            } catch (error) {
              say(`profile of ${path.name} ${proxy.role}: ${error.message}`);
            }
          }
        }
    }

    const agg = paths.map((p) => aggregate(p.name, runs[p.name], runs.direct));
    const { markdown, ratios: ratioTable } = report(opts, agg, failures, profiles);
    const file = join(resultsDir, `${stamp}.json`);
    const json = `${JSON.stringify(
      {
        startedAt: stamp,
        options: opts,
        machine: { cores: cpus().length, cpu: cpus()[0]?.model, loadavgBefore: loadBefore, loadavgAfter: loadAfter },
        versions: { node: process.version, nginx: nginxVersion(), fortio: fortioVersion(ROOT) },
        aggregate: agg,
        ratiosVsNginx: ratioTable,
        failures,
        runs,
        profiles: profiles.map(({ summary, ...rest }) => ({ ...rest, ...summary })),
      },
      null,
      2,
    )}\n`;
    writeFileSync(file, await prettierJson(json, file));
    out(markdown);
    out('');
    out(
      `Results: ${relative(process.cwd(), file)}${cpuProfDir ? `; profiles in ${relative(process.cwd(), cpuProfDir)}` : ''}`,
    );
    out(
      `Load average before ${loadBefore.map(f2).join(' ')}, after ${loadAfter.map(f2).join(' ')} (${cpus().length} cores).`,
    );
    return Object.keys(failures).length ? 1 : 0;
  } finally {
    await stopAll();
    if (keepTmp) say(`scratch directory kept: ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    say(`failed: ${error?.stack ?? error}`);
    killAll();
    process.exit(1);
  },
);
