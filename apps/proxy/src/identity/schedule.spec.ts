import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, BACKOFF_MAX_MS, renewalTime } from './schedule';

const T0 = Date.UTC(2030, 0, 1);
const SECOND = 1000;
const HOUR = 3_600_000;

describe('renewalTime', () => {
  it("renews at half the lifetime counted from receipt, not from Citadel's back-dated notBefore", () => {
    // A 20 s certificate, back-dated 60 s for clock skew: renew 10 s after receipt, not at once.
    const inputs = { notBeforeMs: T0 - 60 * SECOND, notAfterMs: T0 + 20 * SECOND, receivedAtMs: T0 };
    assert.equal(renewalTime({ ...inputs, random: 0.5 }), T0 + 10 * SECOND);
  });

  it('spreads renewals over 40% to 60% of the lifetime', () => {
    const inputs = { notBeforeMs: T0 - 60 * SECOND, notAfterMs: T0 + 24 * HOUR, receivedAtMs: T0 };
    assert.equal(renewalTime({ ...inputs, random: 0 }), T0 + 0.4 * 24 * HOUR);
    assert.equal(renewalTime({ ...inputs, random: 0.999_999_999 }), T0 + Math.round(0.6 * 24 * HOUR));
    for (let i = 0; i < 1000; i++) {
      const at = renewalTime({ ...inputs, random: Math.random() });
      assert.ok(at >= T0 + 0.4 * 24 * HOUR && at <= T0 + 0.6 * 24 * HOUR, `renewal at ${at - T0} ms`);
    }
  });

  it('counts from notBefore when it is later than receipt (our clock behind), and never past notAfter', () => {
    const late = { notBeforeMs: T0 + 10 * SECOND, notAfterMs: T0 + 110 * SECOND, receivedAtMs: T0, random: 0.5 };
    assert.equal(renewalTime(late), T0 + 60 * SECOND);
    const expired = { notBeforeMs: T0, notAfterMs: T0 + 10 * SECOND, receivedAtMs: T0 + 20 * SECOND, random: 0.5 };
    assert.equal(renewalTime(expired), T0 + 10 * SECOND);
  });

  it('treats a random number outside [0, 1) as the middle or the nearest end', () => {
    const inputs = { notBeforeMs: T0, notAfterMs: T0 + 100 * SECOND, receivedAtMs: T0 };
    assert.equal(renewalTime({ ...inputs, random: Number.NaN }), T0 + 50 * SECOND);
    assert.equal(renewalTime({ ...inputs, random: 7 }), T0 + 60 * SECOND);
    assert.equal(renewalTime({ ...inputs, random: -1 }), T0 + 40 * SECOND);
  });
});

describe('Backoff', () => {
  it('starts at 200 ms, doubles per failure and stops at 30 s', () => {
    const backoff = new Backoff(() => 0.5);
    const delays = Array.from({ length: 12 }, () => backoff.next());
    assert.deepEqual(delays, [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000, 30_000]);
  });

  it('spreads each delay by plus or minus 20%, never above the maximum', () => {
    assert.equal(new Backoff(() => 0).next(), 160);
    assert.equal(new Backoff(() => 0.999_999).next(), 240);
    const high = new Backoff(() => 0.999_999);
    for (let i = 0; i < 20; i++) assert.ok(high.next() <= BACKOFF_MAX_MS);
  });

  it('starts over after reset()', () => {
    const backoff = new Backoff(() => 0.5);
    backoff.next();
    backoff.next();
    backoff.reset();
    assert.equal(backoff.next(), 200);
  });
});
