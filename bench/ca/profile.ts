import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The parts of a V8 .cpuprofile this summary reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** The main thread's profile (thread 0: gRPC, TLS, PostgreSQL, Nest). */
  file: string;
  /** Samples inside the window (or all, when the window does not overlap the profile). */
  sampledMs: number;
  windowed: boolean;
  /** Self time by function, most first. */
  selfTop: { name: string; ms: number; share: number }[];
  /** Self time by category (crypto, PostgreSQL, gRPC/TLS, logging, ...). */
  categories: { name: string; ms: number; share: number }[];
  /**
   * Total time under the innermost Bowline function on the stack (libs/, apps/): which of our
   * functions the native crypto, driver and framework time is spent for. Time with no Bowline
   * frame on the stack (transport, event loop) is grouped by its category.
   */
  byBowlineCaller: { name: string; ms: number; share: number }[];
  /** Each signing worker thread's busy share (not idle) over the same window. */
  workers: { file: string; busyShare: number }[];
}

/** `CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile`, as node --cpu-prof names them. */
const PROFILE_NAME = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/;

const IDLE_CATEGORY = 'idle (waiting for I/O)';

/** Buckets by where the code lives; the first match wins. Order matters. */
const CATEGORIES: [string, RegExp][] = [
  [IDLE_CATEGORY, /^\(idle\)$/],
  ['garbage collection', /^\(garbage collector\)$/],
  ['socket writes (TLS encryption + write syscalls)', /^writev$|^writeBuffer$|^writeUtf8String$/],
  ['stdout log writes (sonic-boom)', /^writeString$/],
  ['libs/pki (build, sign, verify)', /libs\/pki\//],
  ['PostgreSQL driver + TypeORM', /node_modules\/(pg|pg-protocol|pg-pool|typeorm)\//],
  ['gRPC (grpc-js, protobuf)', /node_modules\/(@grpc|protobufjs|@protobufjs)\//],
  ['logging (pino)', /node_modules\/(pino|sonic-boom|@pinojs|fast-redact|quick-format-unescaped)\/|libs\/logging\//],
  ['Nest (core, microservices)', /node_modules\/@nestjs\//],
  ['citadel app code', /apps\/citadel\//],
  ['node:crypto (native sign, verify, hash)', /^node:internal\/crypto\//],
  [
    'node TLS, net, streams, HTTP/2',
    /^node:(_tls|tls|net|_stream|stream|http2|internal\/(tls|stream|net|http2|js_stream))/,
  ],
  ['other node internals', /^node:/],
  ['native / program (crypto, TLS, JIT)', /^\(program\)$|^$/],
];

/**
 * Summarises where the time went during `windowNs` in the newest main-thread .cpuprofile in
 * `dir` (worker threads write their own profiles; their busy share is reported separately).
 */
export function summariseProfile(dir: string, windowNs?: [bigint, bigint], top = 15): ProfileSummary {
  const files = readdirSync(dir)
    .filter((f) => PROFILE_NAME.test(f))
    .sort();
  const pid = (f: string) => f.split('.')[3];
  const thread = (f: string) => PROFILE_NAME.exec(f)![1];
  const file = files.filter((f) => thread(f) === '0').at(-1);
  if (!file) throw new Error(`no main-thread .cpuprofile in ${dir}`);
  const main = summariseFile(join(dir, file), windowNs, top);
  const workers = files
    .filter((f) => pid(f) === pid(file) && thread(f) !== '0')
    .map((f) => {
      const worker = summariseFile(join(dir, f), windowNs, 1);
      const idle = worker.categories.find((c) => c.name === IDLE_CATEGORY)?.share ?? 0;
      return { file: f, busyShare: 1 - idle };
    });
  return { file, ...main, workers };
}

/** One thread's profile: self time by function and category, and time by Bowline caller. */
function summariseFile(
  path: string,
  windowNs: [bigint, bigint] | undefined,
  top: number,
): Omit<ProfileSummary, 'file' | 'workers'> {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const bowlineCaller = (id: number): string | undefined => {
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (/\/dist\/(libs|apps)\//.test(frame.url)) return `${frame.functionName || '(module)'} ${shorten(frame.url)}`;
    }
    return undefined;
  };

  // Sample timestamps are V8 TimeTicks (µs, CLOCK_MONOTONIC), the clock of process.hrtime.
  const [from, to] = windowNs ? [Number(windowNs[0] / 1000n), Number(windowNs[1] / 1000n)] : [-Infinity, Infinity];
  let t = profile.startTime;
  const inWindow: { id: number; us: number }[] = [];
  const all: { id: number; us: number }[] = [];
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const us = profile.timeDeltas[i + 1] ?? 0;
    all.push({ id: profile.samples[i], us });
    if (t >= from && t <= to) inWindow.push({ id: profile.samples[i], us });
  }
  const windowed = inWindow.length > 0 && Number.isFinite(from);
  const samples = windowed ? inWindow : all;

  const self = new Map<string, number>();
  const categories = new Map<string, number>();
  const callers = new Map<string, number>();
  let total = 0;
  for (const { id, us } of samples) {
    const frame = byId.get(id)!.callFrame;
    const where = frame.url ? shorten(frame.url) : '';
    const name = frame.url
      ? `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`
      : frame.functionName;
    self.set(name, (self.get(name) ?? 0) + us);
    const category = CATEGORIES.find(([, pattern]) => pattern.test(where || frame.functionName))?.[0] ?? 'other JS';
    categories.set(category, (categories.get(category) ?? 0) + us);
    const caller = bowlineCaller(id) ?? `(no Bowline frame) ${category}`;
    callers.set(caller, (callers.get(caller) ?? 0) + us);
    total += us;
  }
  const rank = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
  return {
    sampledMs: total / 1000,
    windowed,
    selfTop: rank(self).slice(0, top),
    categories: rank(categories),
    byBowlineCaller: rank(callers).slice(0, top),
  };
}

function shorten(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm);
  const dist = path.indexOf('/dist/');
  return dist >= 0 ? path.slice(dist + '/dist/'.length) : path.startsWith('/') ? relative(process.cwd(), path) : path;
}
