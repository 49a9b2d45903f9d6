import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root (where package.json names "bowline"), found from this file's location. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'bowline') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the bowline repository root');
    dir = parent;
  }
}

/** A tool built into .tools/ by scripts/ensure-tools.sh (npm test builds them first). */
export function toolPath(name: 'opa' | 'grpcurl'): string {
  return join(repoRoot(), '.tools', name);
}
