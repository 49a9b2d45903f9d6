/**
 * Test helpers around the real `openssl` CLI (used by the *.spec.ts files only; not exported
 * from the library). Every helper works in a caller-owned temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory with helpers; call `dispose()` when done. */
export interface Workdir {
  readonly path: string;
  file(name: string): string;
  write(name: string, text: string): string;
  read(name: string): string;
  /** Runs openssl in this directory; returns stdout. Throws with stderr on a non-zero exit. */
  openssl(args: readonly string[]): string;
  dispose(): void;
}

export function workdir(): Workdir {
  const path = mkdtempSync(join(tmpdir(), 'bowline-pki-'));
  const dir: Workdir = {
    path,
    file: (name) => join(path, name),
    write: (name, text) => {
      writeFileSync(join(path, name), text);
      return join(path, name);
    },
    read: (name) => readFileSync(join(path, name), 'utf8'),
    openssl: (args) => {
      try {
        return execFileSync('openssl', args, { cwd: path, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (error) {
        const e = error as { stderr?: string; stdout?: string; message: string };
        throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
      }
    },
    dispose: () => rmSync(path, { recursive: true, force: true }),
  };
  return dir;
}

/** `-newkey` arguments for common key types. */
export const NEW_KEY = {
  rsa2048: ['-newkey', 'rsa:2048'],
  rsa1024: ['-newkey', 'rsa:1024'],
  p256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  p521: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  secp256k1: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'],
  ed25519: ['-newkey', 'ed25519'],
} as const;

let counter = 0;

/** Generates a CSR with openssl; returns its PEM and its private key PEM. */
export function opensslCsr(
  dir: Workdir,
  key: readonly string[],
  options: { san?: string; digest?: string } = {},
): { csrPem: string; keyPem: string } {
  const n = ++counter;
  const args = [
    'req',
    '-new',
    ...key,
    '-nodes',
    '-keyout',
    `csr${n}.key`,
    '-out',
    `csr${n}.pem`,
    '-subj',
    '/O=bowline-test',
  ];
  if (options.san) args.push('-addext', `subjectAltName=${options.san}`);
  if (options.digest) args.push(`-${options.digest}`);
  dir.openssl(args);
  return { csrPem: dir.read(`csr${n}.pem`), keyPem: dir.read(`csr${n}.key`) };
}
