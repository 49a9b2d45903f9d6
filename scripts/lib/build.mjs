import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs a command in the repository root, inheriting stdio; exits the process if it fails. */
export function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    process.stderr.write(`\n${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})\n`);
    process.exit(result.status || 1);
  }
}

/** Compiles apps, libs, migrations and tests into dist/ (incremental). */
export function build() {
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'tsconfig.build.json']);
}

/** Builds the Go tools (OPA CLI, grpcurl) into .tools/ unless they are there already. */
export function ensureTools(...tools) {
  run('bash', [join(ROOT, 'scripts', 'ensure-tools.sh'), ...tools]);
}
