#!/usr/bin/env node
// Prints the README's configuration table from the one catalogue the services load
// (libs/config/src/catalog.ts). Run after `npm run build`.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './lib/build.mjs';

const { CATALOG } = createRequire(import.meta.url)(join(ROOT, 'dist/libs/config/src/index.js'));

const APPS = ['citadel', 'pilot', 'galley', 'policy', 'proxy'];
const SECTIONS = [['service'], ...APPS.map((app) => [app]), ['runner', 'local runner'], ['testing', 'tests']];

/** Who reads a variable: "every service", the apps whose schema has it, or the runner / tests. */
function readers(name, fallback) {
  const apps = APPS.filter((app) => Object.values(CATALOG[app]).some((spec) => spec.name === name));
  if (apps.length === APPS.length) return 'every service';
  return apps.length > 0 ? apps.join(', ') : fallback;
}

const seen = new Set();
const rows = ['| Variable | Read by | Default | Expects | Description |', '| --- | --- | --- | --- | --- |'];
for (const [key, label] of SECTIONS) {
  for (const spec of Object.values(CATALOG[key])) {
    if (seen.has(spec.name)) continue;
    seen.add(spec.name);
    const name = spec.secret ? `\`${spec.name}\` / \`${spec.name}_FILE\`` : `\`${spec.name}\``;
    const fallback =
      spec.defaultText !== undefined ? `\`${spec.defaultText}\`` : spec.required ? '*(required)*' : '*(unset)*';
    rows.push(
      `| ${name} | ${readers(spec.name, label ?? key)} | ${fallback} | ${spec.expects} | ${spec.description} |`,
    );
  }
}
process.stdout.write(`${rows.join('\n')}\n`);
