// fortio: the load generator (`fortio load`) and the upstream app (`fortio server`, whose echo
// handler answers a POST with its own body: 1 KB in, 1 KB out).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { startProcess } from './proc.mjs';

export const PERCENTILES = [50, 90, 99, 99.9];

const loads = new Set();

/** Ends the `fortio load` runs in progress (on Ctrl-C). */
export function stopLoads() {
  for (const child of loads) child.kill('SIGKILL');
}

export function fortioPath(root) {
  return join(process.env.BOWLINE_TOOLS_DIR ?? join(root, '.tools'), 'fortio');
}

export function fortioVersion(root) {
  const marker = join(process.env.BOWLINE_TOOLS_DIR ?? join(root, '.tools'), '.fortio.version');
  return existsSync(marker) ? readFileSync(marker, 'utf8').trim() : 'unknown';
}

/** `fortio server` on 127.0.0.1:<port> with only the HTTP echo server (no gRPC, redirect, TCP, UDP). */
export function startEchoServer(fortio, port, logFile) {
  return startProcess(
    'app (fortio server)',
    fortio,
    [
      'server',
      '-http-port',
      `127.0.0.1:${port}`,
      '-grpc-port',
      'disabled',
      '-redirect-port',
      'disabled',
      '-tcp-port',
      'disabled',
      '-udp-port',
      'disabled',
      '-loglevel',
      'warning',
    ],
    { logFile, env: { PATH: process.env.PATH ?? '' } },
  );
}

/**
 * One `fortio load` run against http://127.0.0.1:<port>/echo. `qps` 0 = as fast as it can.
 * Requests are spread uniformly over the connections (-uniform), so at a fixed rate the 16
 * connections do not all fire at the same instant; the histogram resolution is 10 µs.
 */
export async function runLoad(fortio, { port, headers = {}, qps, seconds, connections, payloadSize }) {
  const args = [
    'load',
    '-qps',
    String(qps),
    '-c',
    String(connections),
    '-t',
    `${seconds}s`,
    '-payload-size',
    String(payloadSize),
    '-r',
    '0.00001',
    '-p',
    PERCENTILES.join(','),
    '-loglevel',
    'warning',
    '-json',
    '-',
  ];
  if (qps > 0) args.push('-uniform');
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(`http://127.0.0.1:${port}/echo`);

  const child = spawn(fortio, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  loads.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (stderr = (stderr + c).slice(-8000)));
  const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? signal)));
  loads.delete(child);
  const start = stdout.indexOf('{');
  if (code !== 0 || start < 0) throw new Error(`fortio load failed (${code}): ${stderr.trim()}`);
  return summarise(JSON.parse(stdout.slice(start)));
}

/** The fields of fortio's JSON result the bench uses; latencies in milliseconds. */
function summarise(result) {
  const h = result.DurationHistogram;
  const pct = Object.fromEntries((h.Percentiles ?? []).map((p) => [`p${p.Percentile}`, p.Value * 1000]));
  const ok = result.RetCodes?.['200'] ?? 0;
  return {
    requestedQps: result.RequestedQPS === 'max' ? 0 : Number(result.RequestedQPS),
    actualQps: result.ActualQPS,
    durationS: result.ActualDuration / 1e9,
    count: h.Count,
    ok,
    errors: h.Count - ok,
    retCodes: result.RetCodes,
    sockets: result.SocketCount,
    avgMs: h.Avg * 1000,
    minMs: h.Min * 1000,
    maxMs: h.Max * 1000,
    p50: pct.p50,
    p90: pct.p90,
    p99: pct.p99,
    p999: pct['p99.9'],
    responseBytes: result.Sizes?.Avg,
  };
}
