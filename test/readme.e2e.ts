import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CATALOG, schemas } from '#libs/config';
import { repoRoot } from '#libs/testing';

/** The README is what a new user reads: its tables must match what the code does. */
describe('README', () => {
  const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');

  it('documents every configuration variable with its default', () => {
    for (const schema of Object.values(CATALOG)) {
      for (const spec of Object.values(schema)) {
        const row = readme.split('\n').find((line) => line.startsWith(`| \`${spec.name}\``));
        assert.ok(row, `README has no configuration row for ${spec.name}`);
        if (spec.defaultText !== undefined)
          assert.ok(row.includes(`\`${spec.defaultText}\``), `${spec.name}: default ${spec.defaultText}`);
      }
    }
  });

  it('gives the default port of every service', () => {
    for (const app of ['citadel', 'pilot', 'galley', 'policy', 'proxy'] as const) {
      const schema = schemas[app];
      const adminPort = schema.adminPort;
      const grpcPort = 'grpcPort' in schema ? schema.grpcPort : schema.outboundPort;
      const row = readme
        .split('\n')
        .find((line) => line.startsWith(`| ${app} |`) && line.includes(String(adminPort.defaultText)));
      assert.ok(row, `README's port table has no row for ${app}`);
      assert.ok(row.includes(String(grpcPort.defaultText)), `${app}: gRPC port ${grpcPort.defaultText}`);
    }
  });

  it('gives the two commands a new user types', () => {
    assert.match(readme, /^npm start/m);
    assert.match(readme, /^npm test$/m);
  });
});
