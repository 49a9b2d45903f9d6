import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputMasker, MASKED, pointerTokens } from './masking';

const input = () => ({
  attributes: {
    request: {
      http: {
        method: 'POST',
        headers: { Authorization: 'Bearer secret', cookie: 'sid=1', 'x-api-key': 'k', accept: '*/*' },
      },
    },
  },
  parsed_body: { user: 'alice', password: 'hunter2', cards: [{ number: '4111' }] },
});

describe('decision log masking', () => {
  it('masks secret headers in any letter case, and leaves the others and the original alone', () => {
    const original = input();
    const masked = new InputMasker().mask(original) as any;
    assert.deepEqual(masked.attributes.request.http.headers, {
      Authorization: MASKED,
      cookie: MASKED,
      'x-api-key': 'k',
      accept: '*/*',
    });
    assert.equal(original.attributes.request.http.headers.Authorization, 'Bearer secret');
  });

  it('masks configured JSON pointers, including array elements, and ignores pointers that resolve to nothing', () => {
    const masker = new InputMasker([
      '/attributes/request/http/headers/x-api-key',
      '/parsed_body/password',
      '/parsed_body/cards/0/number',
      '/parsed_body/missing/deeper',
      '/parsed_body/cards/7',
    ]);
    const masked = masker.mask(input()) as any;
    assert.equal(masked.attributes.request.http.headers['x-api-key'], MASKED);
    assert.deepEqual(masked.parsed_body, { user: 'alice', password: MASKED, cards: [{ number: MASKED }] });
  });

  it('masks the raw body once part of the parsed body is masked, and only then', () => {
    const withBody = () => {
      const doc = input() as any;
      doc.attributes.request.http.body = '{"user": "alice", "password": "hunter2"}';
      return doc;
    };
    const masked = new InputMasker(['/parsed_body/password']).mask(withBody()) as any;
    assert.equal(masked.attributes.request.http.body, MASKED);
    const untouched = new InputMasker(['/parsed_body/pin']).mask(withBody()) as any;
    assert.match(untouched.attributes.request.http.body, /hunter2/);
  });

  it('reads ~1 and ~0 escapes as RFC 6901 says', () => {
    assert.deepEqual(pointerTokens('/a~1b/c~0d/'), ['a/b', 'c~d', '']);
  });

  it('masks secret headers a decision adds', () => {
    const result = { allowed: true, headers: { authorization: 'Bearer internal', 'x-user': 'alice' } };
    assert.deepEqual(new InputMasker().maskResult(result), {
      allowed: true,
      headers: { authorization: MASKED, 'x-user': 'alice' },
    });
    assert.equal(new InputMasker().maskResult(true), true);
  });
});
