import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * `count` PKCS#10 CSRs for fresh P-256 keys, made by the openssl CLI as a workload's agent
 * would (node:crypto cannot build CSRs). Requests reuse them round-robin: Citadel certifies
 * the same public key again with a new serial, which costs exactly what a new key costs.
 */
export async function makeCsrPool(count: number, parallel = 8): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bowline-bench-csr-'));
  try {
    const pool: string[] = [];
    for (let start = 0; start < count; start += parallel) {
      const batch = Array.from({ length: Math.min(parallel, count - start) }, (_, i) => start + i);
      pool.push(...(await Promise.all(batch.map((i) => makeCsr(dir, i)))));
    }
    return pool;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function makeCsr(dir: string, i: number): Promise<string> {
  const csrFile = join(dir, `${i}.csr`);
  await run('openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    join(dir, `${i}.key`),
    '-out',
    csrFile,
    '-subj',
    '/O=bench-workload',
  ]);
  return readFileSync(csrFile, 'utf8');
}
