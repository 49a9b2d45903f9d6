/** Renewal happens at this fraction of a certificate's lifetime... */
export const RENEWAL_FRACTION = 0.5;
/** ...plus or minus this fraction of the lifetime, so a fleet issued together does not renew together. */
export const RENEWAL_JITTER = 0.1;

/** Exponential backoff bounds for talking to Citadel. */
export const BACKOFF_INITIAL_MS = 200;
export const BACKOFF_MAX_MS = 30_000;
/** Each delay is spread by plus or minus this fraction. */
export const BACKOFF_JITTER = 0.2;

/** Longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the renewal time of a certificate depends on. */
export interface RenewalInputs {
  /** The certificate's notBefore, ms since the epoch. */
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** When the proxy received the certificate, ms since the epoch. */
  readonly receivedAtMs: number;
  /** A uniform random number in [0, 1). */
  readonly random: number;
}

/**
 * When to renew a certificate (ms since the epoch): at 50% (plus or minus 10%) of its
 * lifetime. The lifetime counts from when it was received, not from notBefore, because
 * Citadel back-dates notBefore by a clock-skew allowance (60 s), which would make a short-lived
 * certificate look half used on arrival. Never before it was received, never after notAfter.
 */
export function renewalTime(inputs: RenewalInputs): number {
  const start = Math.min(Math.max(inputs.notBeforeMs, inputs.receivedAtMs), inputs.notAfterMs);
  const lifetime = inputs.notAfterMs - start;
  const fraction = RENEWAL_FRACTION + (2 * clampRandom(inputs.random) - 1) * RENEWAL_JITTER;
  return Math.round(start + lifetime * fraction);
}

/**
 * Exponential backoff with jitter: 200 ms, doubling per failure up to 30 s, each delay spread
 * by plus or minus 20%; `reset()` after a success.
 */
export class Backoff {
  private nextBaseMs: number;

  constructor(
    private readonly random: () => number = Math.random,
    private readonly initialMs = BACKOFF_INITIAL_MS,
    private readonly maxMs = BACKOFF_MAX_MS,
  ) {
    this.nextBaseMs = initialMs;
  }

  /** The delay before the next attempt; each call doubles the one after it (up to the maximum). */
  next(): number {
    const base = this.nextBaseMs;
    this.nextBaseMs = Math.min(this.maxMs, base * 2);
    const spread = (2 * clampRandom(this.random()) - 1) * BACKOFF_JITTER;
    return Math.round(Math.min(this.maxMs, base * (1 + spread)));
  }

  reset(): void {
    this.nextBaseMs = this.initialMs;
  }
}

function clampRandom(value: number): number {
  return Number.isFinite(value) ? Math.min(Math.max(value, 0), 1) : 0.5;
}
