import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newCsr } from '#libs/testing';

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
  return newCsr({ keyFile: join(dir, `${i}.key`), csrFile: join(dir, `${i}.csr`), subject: '/O=bench-workload' });
}
