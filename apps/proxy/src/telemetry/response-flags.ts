import type { ResponseFlag } from './types';

/** What Envoy prints for `%RESPONSE_FLAGS%` (and Istio's `response_flags` label) when no flag is set. */
export const NO_RESPONSE_FLAGS = '-';

/**
 * Envoy's short form of a request's response flags: `-` when none, else the flags joined by
 * `,` (`UH,URX`). `text`, when the data plane already has it, is used as is.
 */
export function responseFlagsText(flags: readonly ResponseFlag[] | undefined, text?: string): string {
  if (text) return text;
  if (!flags || flags.length === 0) return NO_RESPONSE_FLAGS;
  return flags.length === 1 ? flags[0] : flags.join(',');
}
