import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `-newkey` arguments: an ECDSA P-256 key, what Istio's and Bowline's proxies use. */
export const P256_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

/** Runs the real `openssl` CLI and returns its stdout. */
export async function openssl(...args: string[]): Promise<string> {
  return (await run('openssl', args)).stdout;
}

/**
 * A new key (`P256_KEY` unless `key` says otherwise) and a CSR for it, made by the openssl
 * CLI as a workload's agent would; returns the CSR PEM. `san` adds a subjectAltName request.
 */
export async function newCsr(params: {
  keyFile: string;
  csrFile: string;
  key?: string[];
  subject?: string;
  san?: string;
}): Promise<string> {
  const san = params.san ? ['-addext', `subjectAltName=${params.san}`] : [];
  await openssl(
    'req',
    '-new',
    ...(params.key ?? P256_KEY),
    '-nodes',
    '-keyout',
    params.keyFile,
    '-out',
    params.csrFile,
    '-subj',
    params.subject ?? '/O=workload',
    ...san,
  );
  return readFile(params.csrFile, 'utf8');
}

/** A self-signed P-256 certificate with `extensions` (`-addext` values) for `days` days. */
export async function selfSigned(params: {
  keyFile: string;
  certFile: string;
  subject: string;
  days: number;
  extensions: string[];
}): Promise<void> {
  const ext = params.extensions.flatMap((e) => ['-addext', e]);
  await openssl(
    'req',
    '-x509',
    ...P256_KEY,
    '-nodes',
    '-keyout',
    params.keyFile,
    '-out',
    params.certFile,
    '-subj',
    params.subject,
    '-days',
    String(params.days),
    ...ext,
  );
}
