import type { FieldProblem } from '#libs/errors';
import { invalid, requireObject, unknownFields } from '../policies/policy-request';
import { parseTimestamp } from './decision-log-request';

/** A validated `:replay` body. */
export interface ReplaySpec {
  from: Date;
  to: Date;
  /** Most recorded decisions to evaluate (newest first). */
  limit: number;
  /** Replay every recorded decision in the window, not only those the same policy made. */
  allPolicies: boolean;
}

export const DEFAULT_REPLAY_LIMIT = 1000;
export const MAX_REPLAY_LIMIT = 10_000;

export function parseReplay(body: unknown): ReplaySpec {
  const input = requireObject(body ?? {});
  const problems: FieldProblem[] = unknownFields(input, ['from', 'to', 'limit', 'allPolicies']);
  const from = parseTimestamp(input.from);
  const to = parseTimestamp(input.to);
  if (!from) problems.push({ path: 'from', message: 'required: an RFC 3339 timestamp (start of the window)' });
  if (!to) problems.push({ path: 'to', message: 'required: an RFC 3339 timestamp (end of the window, exclusive)' });
  if (from && to && from >= to) problems.push({ path: 'to', message: 'must be after from' });
  const limit = input.limit ?? DEFAULT_REPLAY_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_REPLAY_LIMIT) {
    problems.push({ path: 'limit', message: `must be a whole number from 1 to ${MAX_REPLAY_LIMIT}` });
  }
  if (input.allPolicies !== undefined && typeof input.allPolicies !== 'boolean') {
    problems.push({ path: 'allPolicies', message: 'must be a boolean' });
  }
  if (problems.length > 0) throw invalid('invalid replay', problems);
  return { from: from as Date, to: to as Date, limit: limit as number, allPolicies: input.allPolicies === true };
}
