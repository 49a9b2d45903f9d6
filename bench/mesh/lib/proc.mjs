// Processes the bench starts, and what /proc says about them (CPU time, RSS, PSS).
import { Buffer } from 'node:buffer';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';

let clockTicks;
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, almost always 100). */
export function clkTck() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds a process has used so far (all its threads), or 0 when it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    return (Number(fields[11]) + Number(fields[12])) / clkTck(); // fields 14 (utime) and 15 (stime)
  } catch {
    return 0;
  }
}

/** VmRSS and VmHWM (peak RSS) in bytes, and PSS from smaps_rollup when readable. */
export function memory(pid) {
  const out = { rss: 0, hwm: 0, pss: 0 };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    out.rss = kb(status, 'VmRSS');
    out.hwm = kb(status, 'VmHWM');
  } catch {
    return out;
  }
  try {
    out.pss = kb(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
  } catch {
    out.pss = out.rss;
  }
  return out;
}

function kb(text, field) {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) * 1024 : 0;
}

/** The direct children of a process (nginx's workers under its master). */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    const found = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return found;
  }
}

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

/** A plain HTTP request to 127.0.0.1 (the Host header can be set, unlike with fetch). */
export function httpRequest({ port, path = '/', method = 'GET', headers = {}, body, timeoutMs = 2000 }) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, timeout: timeoutMs, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const running = new Set();

/**
 * Starts a long-running process whose stdout and stderr go to `logFile` (a file, so the bench
 * spends no CPU reading a proxy's access log). Returns a handle with `pid`, `exited`, `stop()`.
 */
export function startProcess(name, command, args, { env, logFile, cwd, stopSignal = 'SIGTERM' }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const handle = {
    name,
    logFile,
    child,
    pid: child.pid,
    exitInfo: undefined,
    exited: new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        handle.exitInfo = { code, signal };
        running.delete(handle);
        resolve(handle.exitInfo);
      }),
    ),
    /** Graceful stop (stopSignal), then SIGKILL after `graceMs`. */
    async stop(graceMs = 10_000) {
      if (handle.exitInfo) return handle.exitInfo;
      child.kill(stopSignal);
      const timer = sleep(graceMs).then(() => 'timeout');
      if ((await Promise.race([handle.exited, timer])) === 'timeout') {
        child.kill('SIGKILL');
        await handle.exited;
      }
      return handle.exitInfo;
    },
  };
  child.on('error', (error) => {
    handle.exitInfo = { code: null, signal: null, error };
    running.delete(handle);
  });
  running.add(handle);
  return handle;
}

/** SIGKILLs whatever the bench started and did not stop (used on Ctrl-C and crashes). */
export function killAll() {
  for (const handle of running) handle.child.kill('SIGKILL');
}

/** The last `bytes` of a log file, for error messages. */
export function tail(file, bytes = 4000) {
  try {
    const text = readFileSync(file, 'utf8');
    return text.length > bytes ? `…${text.slice(-bytes)}` : text;
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `probe()` until it returns true. Fails when one of `processes` exits, or after
 * `timeoutMs`, with `describe()` in the message.
 */
export async function waitUntil(probe, { timeoutMs = 30_000, processes = [], what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    for (const p of processes) {
      if (p.exitInfo) {
        const how = p.exitInfo.error
          ? p.exitInfo.error.message
          : p.exitInfo.signal
            ? `signal ${p.exitInfo.signal}`
            : `exit ${p.exitInfo.code}`;
        throw new Error(
          `${p.name} exited (${how}) while waiting for ${what}; its log (${p.logFile}) ends:\n${logSummary(p.logFile)}`,
        );
      }
    }
    try {
      if (await probe()) return;
      lastError = undefined; // it answers now, just not yet as wanted
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError.message})` : ''}`,
  );
}

export const isRoot = () => process.getuid?.() === 0;

/**
 * The last `count` lines of a log, JSON log lines (pino) shortened to `level: msg` with the
 * error message, other lines cut at 300 characters.
 */
export function logSummary(file, count = 8) {
  let lines;
  try {
    lines = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-count);
  } catch {
    return '(no log)';
  }
  if (lines.join('') === '') return '(empty)';
  return lines
    .map((line) => {
      try {
        const entry = JSON.parse(line);
        if (entry && typeof entry === 'object' && 'msg' in entry) {
          const detail = entry.err?.message;
          const err =
            detail && !String(entry.msg).includes(detail) && !detail.includes(entry.msg) ? ` (${detail})` : '';
          return `${entry.level ?? ''}: ${entry.msg}${err}`.slice(0, 400);
        }
      } catch {
        // not JSON
      }
      return line.length > 300 ? `${line.slice(0, 300)}…` : line;
    })
    .join('\n');
}
