import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './load';
import { duration, oneOf, port, text } from './variables';

const schema = {
  port: port('X_PORT', { description: 'a port', default: 8080 }),
  level: oneOf('X_LEVEL', ['a', 'b'] as const, { description: 'a level', default: 'a' }),
  grace: duration('X_GRACE', { description: 'a grace', default: 10_000 }),
  secret: text('X_SECRET', { description: 'a secret', minLength: 8, secret: true }),
};
const known = new Set(['X_PORT', 'X_LEVEL', 'X_GRACE', 'X_SECRET']);

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies defaults and freezes the result', () => {
    const config = loadConfig(schema, {}, known);
    assert.deepEqual({ ...config }, { port: 8080, level: 'a', grace: 10_000, secret: undefined });
    assert.ok(Object.isFrozen(config));
  });

  it('parses values', () => {
    const config = loadConfig(
      schema,
      { X_PORT: '15012', X_LEVEL: 'b', X_GRACE: '24h', X_SECRET: 'long enough' },
      known,
    );
    assert.equal(config.port, 15012);
    assert.equal(config.level, 'b');
    assert.equal(config.grace, 86_400_000);
    assert.equal(config.secret, 'long enough');
  });

  it('reports every bad variable by name with what it expects', () => {
    const problems = problemsOf(() => loadConfig(schema, { X_PORT: '0', X_LEVEL: 'c', X_GRACE: '1 hour' }, known));
    assert.equal(problems.length, 3);
    assert.match(problems[0], /^X_PORT "0": out of range; expected a TCP port number between 1 and 65535$/);
    assert.match(problems[1], /^X_LEVEL "c": .*expected one of a, b$/);
    assert.match(problems[2], /^X_GRACE "1 hour": .*expected a duration/);
  });

  it('reads secrets from _FILE, never shows them, and refuses both forms at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bowline-config-'));
    writeFileSync(join(dir, 'secret'), 'from-a-file\n');
    assert.equal(loadConfig(schema, { X_SECRET_FILE: join(dir, 'secret') }, known).secret, 'from-a-file');
    const short = problemsOf(() => loadConfig(schema, { X_SECRET: 'tiny' }, known));
    assert.match(short[0], /X_SECRET \(secret value\): too short/);
    assert.doesNotMatch(short[0], /tiny/);
    const both = problemsOf(() =>
      loadConfig(schema, { X_SECRET: 'long enough', X_SECRET_FILE: join(dir, 'secret') }, known),
    );
    assert.match(both[0], /X_SECRET and X_SECRET_FILE are both set/);
    const missing = problemsOf(() => loadConfig(schema, { X_SECRET_FILE: join(dir, 'absent') }, known));
    assert.match(missing[0], /X_SECRET_FILE: cannot read .*absent \(ENOENT\)/);
  });

  it('refuses unknown variables with a Bowline prefix and ignores everything else', () => {
    const problems = problemsOf(() =>
      loadConfig(schema, { BOWLINE_LOGLEVEL: 'debug', HOME: '/root', PATH: '/bin' }, known),
    );
    assert.deepEqual(problems, [
      'BOWLINE_LOGLEVEL is not a Bowline setting (misspelt?); see the configuration table in README.md',
    ]);
  });
});
