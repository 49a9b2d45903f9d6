import type { FieldProblem } from '#libs/errors';
import { invalid, policyNameProblem } from '../policies/policy-request';
import { parseTimestamp } from './decision-log-request';

/** A validated `GET /v1/decision-logs` query: every filter is optional and they all apply. */
export interface DecisionLogQuery {
  from?: Date;
  to?: Date;
  principal?: string;
  destination?: string;
  /** An exact path, or a prefix when the query value ends with `*`. */
  path?: { value: string; prefix: boolean };
  allowed?: boolean;
  policy?: string;
  revision?: number;
  requestId?: string;
  limit: number;
  /** Continue after this row (newest first): the last row of the previous page. */
  after?: { decidedAt: Date; id: string };
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const KEYS = [
  ...['from', 'to', 'principal', 'destination', 'path', 'decision', 'policy', 'revision', 'requestId'],
  ...['limit', 'cursor'],
];

/** The opaque cursor of the page after `row`. */
export function encodeCursor(row: { decidedAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([row.decidedAt.toISOString(), row.id])).toString('base64url');
}

function decodeCursor(cursor: string): DecisionLogQuery['after'] | null {
  try {
    const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const decidedAt = parseTimestamp(time);
    return decidedAt && typeof id === 'string' && /^[1-9]\d{0,18}$/.test(id) ? { decidedAt, id } : null;
  } catch {
    return null;
  }
}

/** Validates the query string; each problem names its parameter. */
export function parseDecisionLogQuery(query: Record<string, unknown>): DecisionLogQuery {
  const problems: FieldProblem[] = Object.keys(query)
    .filter((key) => !KEYS.includes(key))
    .map((path) => ({ path, message: 'unknown query parameter' }));
  const result: DecisionLogQuery = { limit: DEFAULT_LIMIT };
  const value = (key: string): string | undefined => {
    const raw = query[key];
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string' || raw === '' || raw.length > 2048) {
      problems.push({ path: key, message: 'must be given once, 1 to 2048 characters' });
      return undefined;
    }
    return raw;
  };
  for (const key of ['from', 'to'] as const) {
    const raw = value(key);
    if (raw === undefined) continue;
    const date = parseTimestamp(raw);
    if (date) result[key] = date;
    else problems.push({ path: key, message: 'must be an RFC 3339 timestamp such as 2026-11-25T18:00:00Z' });
  }
  if (result.from && result.to && result.from >= result.to)
    problems.push({ path: 'to', message: 'must be after from' });
  for (const key of ['principal', 'destination', 'requestId'] as const) {
    const raw = value(key);
    if (raw !== undefined) result[key] = raw;
  }
  const path = value('path');
  if (path !== undefined) {
    const prefix = path.endsWith('*');
    result.path = { value: prefix ? path.slice(0, -1) : path, prefix };
    if (!result.path.value.startsWith('/')) problems.push({ path: 'path', message: 'must start with /' });
  }
  const decision = value('decision');
  if (decision !== undefined) {
    if (decision === 'allow' || decision === 'deny') result.allowed = decision === 'allow';
    else problems.push({ path: 'decision', message: 'must be allow or deny' });
  }
  const policy = value('policy');
  if (policy !== undefined) {
    const problem = policyNameProblem(policy);
    if (problem) problems.push({ path: 'policy', message: problem });
    else result.policy = policy;
  }
  const revision = value('revision');
  if (revision !== undefined) {
    if (/^[1-9]\d{0,8}$/.test(revision)) result.revision = Number(revision);
    else problems.push({ path: 'revision', message: 'must be a revision number (1, 2, ...)' });
  }
  const limit = value('limit');
  if (limit !== undefined) {
    if (/^\d{1,4}$/.test(limit) && Number(limit) >= 1 && Number(limit) <= MAX_LIMIT) result.limit = Number(limit);
    else problems.push({ path: 'limit', message: `must be a whole number from 1 to ${MAX_LIMIT}` });
  }
  const cursor = value('cursor');
  if (cursor !== undefined) {
    const after = decodeCursor(cursor);
    if (after) result.after = after;
    else problems.push({ path: 'cursor', message: 'not a cursor this API returned (nextCursor)' });
  }
  if (problems.length > 0) throw invalid('invalid decision log query', problems);
  return result;
}
