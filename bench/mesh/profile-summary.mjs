#!/usr/bin/env node
// Summarises a V8 .cpuprofile (`node --cpu-prof`) of a proxy: self time by category and by
// function, and total time under the innermost proxy-code frame on the stack.
//   node bench/mesh/profile-summary.mjs <file.cpuprofile | dir> [--top 20] [--from-ns N --to-ns N]
// With a directory, the newest .cpuprofile in it is read. --from-ns/--to-ns restrict it to the
// samples taken in that window of CLOCK_MONOTONIC (process.hrtime.bigint() of any process on
// the machine: run.mjs passes the timed phase so start-up and warm-up are left out).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Buckets by where the code lives; the first match wins, so order matters. */
const CATEGORIES = [
  ['idle (waiting for I/O)', /^\(idle\)$/],
  ['garbage collection', /^\(garbage collector\)$/],
  // Native write bindings are told apart by their caller (see `nativeWhere`).
  ['file writes (access log to a file)', /^fs:/],
  [
    'socket writes (write syscalls, TLS encryption)',
    /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString|writeUcs2String)$/,
  ],
  ['logging (pino, sonic-boom)', /node_modules\/(pino|sonic-boom|@pinojs|fast-redact|quick-format-unescaped)\//],
  ['Bowline proxy code (apps/proxy)', /(^|\/)dist\/apps\/proxy\//],
  ['Bowline libs', /(^|\/)dist\/libs\//],
  ['plain Node pair code (bench/mesh/node-pair.mjs)', /(^|\/)node-pair\.mjs$/],
  ['gRPC (grpc-js, protobuf)', /node_modules\/(@grpc|protobufjs|@protobufjs)\//],
  ['Nest, Express', /node_modules\/(@nestjs|express|router|body-parser)\//],
  ['other dependencies', /node_modules\//],
  ['node TLS', /^node:(_tls_wrap|_tls_common|tls|internal\/tls)/],
  ['node:crypto', /^node:internal\/crypto\//],
  ['node HTTP (parser glue, incoming/outgoing, agents)', /^node:(_http_|http|https|internal\/http)/],
  ['node HTTP/2', /^node:(internal\/http2|http2)/],
  [
    'node net, streams, timers, events',
    /^node:(net|_stream|stream|events|timers|internal\/(stream|streams|net|timers|event|process\/task))/,
  ],
  ['other node internals', /^node:/],
  ['native / program (TLS records, HTTP parser, JIT, syscalls)', /^\(program\)$|^$/],
];

const isProxyCode = (url) => /\/dist\/(apps\/proxy|libs)\/|(^|\/)node-pair\.mjs$/.test(url);

function newestProfile(path) {
  if (!statSync(path).isDirectory()) return path;
  const files = readdirSync(path)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(path, f))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  if (files.length === 0) throw new Error(`no .cpuprofile in ${path}`);
  return files.at(-1);
}

function shorten(url) {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm);
  const dist = path.indexOf('/dist/');
  if (dist >= 0) return path.slice(dist + 1);
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}

/**
 * Reads a profile (or the newest in a directory) and summarises the samples in `windowNs`
 * ([from, to] as bigint nanoseconds of CLOCK_MONOTONIC; all samples when unset or when the
 * window holds none).
 */
export function summariseProfile(path, { windowNs, top = 20 } = {}) {
  const file = newestProfile(path);
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const callerCache = new Map();
  const proxyCaller = (id) => {
    if (callerCache.has(id)) return callerCache.get(id);
    let found;
    for (let at = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at).callFrame;
      if (isProxyCode(frame.url)) {
        found = `${frame.functionName || '(anonymous)'} ${shorten(frame.url)}:${frame.lineNumber + 1}`;
        break;
      }
    }
    callerCache.set(id, found);
    return found;
  };

  // Sample times: startTime + running sum of timeDeltas, in µs of V8's TimeTicks (CLOCK_MONOTONIC).
  // A sample's weight is the gap to the next sample.
  const [from, to] = windowNs ? [Number(windowNs[0] / 1000n), Number(windowNs[1] / 1000n)] : [-Infinity, Infinity];
  const all = [];
  const inWindow = [];
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const sample = { id: profile.samples[i], us: profile.timeDeltas[i + 1] ?? 0 };
    all.push(sample);
    if (t >= from && t <= to) inWindow.push(sample);
  }
  const windowed = Number.isFinite(from) && inWindow.length > 0;
  const samples = windowed ? inWindow : all;

  const self = new Map();
  const categories = new Map();
  const callers = new Map();
  let total = 0;
  let idle = 0;
  // A native frame (no URL) such as `writeBuffer` serves both fs.writeSync (the access log)
  // and sockets: its caller's URL says which.
  const nativeWhere = (id, frame) => {
    if (frame.url || frame.functionName.startsWith('(')) return '';
    const parent = byId.get(parentOf.get(id))?.callFrame.url ?? '';
    return /^node:(fs|internal\/fs\/)/.test(parent) ? `fs:${frame.functionName}` : '';
  };
  for (const { id, us } of samples) {
    const frame = byId.get(id).callFrame;
    const where = frame.url ? shorten(frame.url) : nativeWhere(id, frame);
    const name = frame.url
      ? `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`
      : where || frame.functionName;
    self.set(name, (self.get(name) ?? 0) + us);
    const category = CATEGORIES.find(([, pattern]) => pattern.test(where || frame.functionName))?.[0] ?? 'other JS';
    categories.set(category, (categories.get(category) ?? 0) + us);
    if (frame.functionName === '(idle)') idle += us;
    else {
      const caller = proxyCaller(id) ?? `(no proxy frame) ${category}`;
      callers.set(caller, (callers.get(caller) ?? 0) + us);
    }
    total += us;
  }
  const busy = total - idle;
  const rank = (m, of) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, ms: us / 1000, share: of ? us / of : 0 }));
  return {
    file,
    windowed,
    sampledMs: total / 1000,
    busyShare: total ? busy / total : 0,
    categories: rank(categories, total),
    selfTop: rank(self, total).slice(0, top),
    /** Shares of the busy (non-idle) time. */
    byProxyFunction: rank(callers, busy).slice(0, top),
  };
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;

/** Markdown lines for one summary. */
export function formatSummary(summary, title = basename(summary.file)) {
  const lines = [
    `#### ${title}`,
    '',
    `${summary.sampledMs.toFixed(0)} ms sampled${summary.windowed ? ' in the timed window' : ' (whole profile)'}, ` +
      `${pct(summary.busyShare)} busy. File: ${summary.file}`,
    '',
    '| self time by category | share |',
    '| --- | ---: |',
    ...summary.categories.map((c) => `| ${c.name} | ${pct(c.share)} |`),
    '',
    '| top functions by self time | share |',
    '| --- | ---: |',
    ...summary.selfTop.map((f) => `| \`${f.name}\` | ${pct(f.share)} |`),
    '',
    '| busy time under the innermost proxy-code frame | share of busy |',
    '| --- | ---: |',
    ...summary.byProxyFunction.map((f) => `| \`${f.name}\` | ${pct(f.share)} |`),
    '',
  ];
  return lines;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string' }, 'from-ns': { type: 'string' }, 'to-ns': { type: 'string' } },
  });
  if (positionals.length === 0) {
    process.stderr.write(
      'usage: node bench/mesh/profile-summary.mjs <file.cpuprofile|dir> [--top N] [--from-ns N --to-ns N]\n',
    );
    process.exit(64);
  }
  const windowNs =
    values['from-ns'] && values['to-ns'] ? [BigInt(values['from-ns']), BigInt(values['to-ns'])] : undefined;
  for (const path of positionals) {
    const summary = summariseProfile(path, { windowNs, top: Number(values.top ?? 20) });
    process.stdout.write(`${formatSummary(summary).join('\n')}\n`);
  }
}
