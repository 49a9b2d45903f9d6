import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceProcess } from './service-process';

/** A fresh key-encryption key for a test Citadel (base64, as `openssl rand -base64 32` prints). */
export function newKek(): string {
  return randomBytes(32).toString('base64');
}

/** Fetches Citadel's trust bundle with an admin token, writes it to a file and returns its path. */
export async function fetchTrustBundle(citadel: ServiceProcess, adminToken: string): Promise<string> {
  const response = await fetch(`${citadel.adminUrl}/v1/trust-bundle`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  if (!response.ok) throw new Error(`trust bundle: HTTP ${response.status}`);
  const path = join(mkdtempSync(join(tmpdir(), 'bowline-bundle-')), 'bundle.pem');
  writeFileSync(path, await response.text());
  return path;
}

/** Makes `citadel.grpcurl` speak TLS to Citadel, trusting its bundle. */
export async function useCitadelTls(citadel: ServiceProcess, adminToken: string): Promise<string> {
  const caFile = await fetchTrustBundle(citadel, adminToken);
  citadel.grpcTls = { caFile, serverName: 'citadel' };
  return caFile;
}
