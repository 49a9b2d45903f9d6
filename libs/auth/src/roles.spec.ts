import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BowlineError } from '#libs/errors';
import { roleAllows } from './roles';
import { parseCreateToken } from './tokens.controller';

describe('roles', () => {
  it('are ordered viewer < operator < admin', () => {
    assert.equal(roleAllows('admin', 'operator'), true);
    assert.equal(roleAllows('operator', 'viewer'), true);
    assert.equal(roleAllows('operator', 'admin'), false);
    assert.equal(roleAllows('viewer', 'operator'), false);
  });
});

describe('parseCreateToken', () => {
  it('accepts a valid request and trims the name', () => {
    assert.deepEqual(parseCreateToken({ name: ' ci ', role: 'viewer', ttlSeconds: 3600 }), {
      name: 'ci',
      role: 'viewer',
      ttlSeconds: 3600,
    });
  });

  it('names each invalid field', () => {
    assert.throws(
      () => parseCreateToken({ role: 'superuser', ttlSeconds: 1.5 }),
      (error: unknown) =>
        error instanceof BowlineError &&
        error.kind.httpStatus === 400 &&
        error.errors.map((e) => e.path).join() === 'name,role,ttlSeconds' &&
        /role: must be one of viewer, operator, admin/.test(error.message),
    );
  });

  it('refuses a body that is not an object', () => {
    assert.throws(() => parseCreateToken([]), /the body must be a JSON object/);
    assert.throws(() => parseCreateToken(null), /the body must be a JSON object/);
  });
});
