#!/usr/bin/env node
// Prints the README's configuration table from the one catalogue the services load
// (libs/config/src/catalog.ts). Run after `npm run build`.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './lib/build.mjs';

const { CATALOG } = createRequire(import.meta.url)(join(ROOT, 'dist/libs/config/src/index.js'));

const SECTIONS = [
  ['every service', 'service'],
  ['citadel', 'citadel'],
  ['pilot', 'pilot'],
  ['galley', 'galley'],
  ['policy', 'policy'],
  ['proxy', 'proxy'],
  ['local runner', 'runner'],
  ['tests', 'testing'],
];
const seen = new Set();
const rows = ['| Variable | Read by | Default | Expects | Description |', '| --- | --- | --- | --- | --- |'];
for (const [label, key] of SECTIONS) {
  for (const spec of Object.values(CATALOG[key])) {
    if (seen.has(spec.name)) continue;
    seen.add(spec.name);
    const name = spec.secret ? `\`${spec.name}\` / \`${spec.name}_FILE\`` : `\`${spec.name}\``;
    const fallback =
      spec.defaultText !== undefined ? `\`${spec.defaultText}\`` : spec.required ? '*(required)*' : '*(unset)*';
    rows.push(`| ${name} | ${label} | ${fallback} | ${spec.expects} | ${spec.description} |`);
  }
}
process.stdout.write(`${rows.join('\n')}\n`);
