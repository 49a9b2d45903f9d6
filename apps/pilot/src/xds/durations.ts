/** `google.protobuf.Duration` as protobufjs takes it. */
export interface DurationMessage {
  seconds: number;
  nanos?: number;
}

const NANOS_PER_UNIT: Readonly<Record<string, number>> = {
  h: 3_600e9,
  m: 60e9,
  s: 1e9,
  ms: 1e6,
  us: 1e3,
  µs: 1e3,
  ns: 1,
};

const DURATION = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+$/;
const PART = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;

/**
 * A duration as Istio writes it in YAML (`10s`, `0.5s`, `1m30s`, `100ms`) as a protobuf Duration;
 * undefined when it is not one (Galley validates them, so that means "unset").
 */
export function toDuration(text: string | undefined): DurationMessage | undefined {
  if (typeof text !== 'string' || !DURATION.test(text)) return undefined;
  let nanos = 0;
  for (const [, amount, unit] of text.matchAll(PART)) nanos += Number(amount) * NANOS_PER_UNIT[unit];
  const whole = Math.round(nanos);
  const seconds = Math.floor(whole / 1e9);
  const rest = whole - seconds * 1e9;
  return rest > 0 ? { seconds, nanos: rest } : { seconds };
}

/** Istio's `Percent` (0–100, fractions allowed) as Envoy's FractionalPercent per million. */
export function toFractionalPercent(percent: number): { numerator: number; denominator: 'MILLION' } {
  return { numerator: Math.round(Math.min(100, Math.max(0, percent)) * 10_000), denominator: 'MILLION' };
}
