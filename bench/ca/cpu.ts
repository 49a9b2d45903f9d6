import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Linux reports process times in clock ticks; USER_HZ is 100 on every mainstream kernel. */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) spent so far by each part of the system under test. */
export interface CpuSnapshot {
  /** The Citadel process, every thread (main, signing workers, libuv, GC). */
  citadel: number;
  /** CPU seconds of each PostgreSQL backend serving Citadel's database, by process id. */
  postgres: Map<number, number>;
  /** This process: the gRPC clients of the load generator. */
  client: number;
  /** Every core of the machine, busy time (includes other people's work on a shared host). */
  machine: number;
}

/** CPU time per issued certificate, by part, over one timed phase (microseconds). */
export interface CpuPerCertificate {
  citadelUs: number;
  postgresUs: number;
  clientUs: number;
  /** Busy time of the whole machine not accounted for above: other processes, the kernel. */
  otherUs: number;
  /** How many cores the machine had busy on average during the phase. */
  machineBusyCores: number;
}

/**
 * Reads the CPU counters. `postgresPids` are the backends connected to Citadel's database now
 * (none when PostgreSQL runs on another machine): they are listed at every snapshot because
 * Citadel's pool closes idle connections and opens new ones.
 */
export function cpuSnapshot(citadelPid: number, postgresPids: readonly number[]): CpuSnapshot {
  const client = process.cpuUsage();
  return {
    citadel: processCpuSeconds(citadelPid),
    postgres: new Map(postgresPids.map((pid) => [pid, processCpuSeconds(pid)])),
    client: (client.user + client.system) / 1e6,
    machine: machineBusySeconds(),
  };
}

/** Per-certificate CPU between two snapshots taken around `certificates` issuances. */
export function cpuPerCertificate(
  before: CpuSnapshot,
  after: CpuSnapshot,
  certificates: number,
  seconds: number,
): CpuPerCertificate {
  const us = (a: number, b: number) => ((b - a) * 1e6) / Math.max(1, certificates);
  const citadelUs = us(before.citadel, after.citadel);
  // A backend opened during the phase counts from zero; one closed during it is lost (it was idle).
  let postgresSeconds = 0;
  for (const [pid, seconds] of after.postgres) postgresSeconds += seconds - (before.postgres.get(pid) ?? 0);
  const postgresUs = us(0, postgresSeconds);
  const clientUs = us(before.client, after.client);
  const machineUs = us(before.machine, after.machine);
  return {
    citadelUs,
    postgresUs,
    clientUs,
    otherUs: Math.max(0, machineUs - citadelUs - postgresUs - clientUs),
    machineBusyCores: (after.machine - before.machine) / seconds,
  };
}

/** utime + stime of a process (all its threads) from /proc, or 0 when it cannot be read. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Busy (non-idle) seconds of every core since boot. */
function machineBusySeconds(): number {
  return cpus().reduce((sum, cpu) => sum + (cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq) / 1000, 0);
}
