/** One redemption waiting for a batch: the token's hash and the caller's clock. */
export interface RedemptionRequest {
  tokenHash: string;
  now: Date;
}

/** A use granted to one request: the token row and this use's number (1-based). */
export interface GrantedUse {
  id: string;
  namespace: string;
  serviceAccount: string;
  tokenPrefix: string;
  /** The token's use count including this use. */
  uses: number;
  maxUses: number;
}

/**
 * What a batch decided for one request: a use; a refusal by the one-row statement (which
 * checks exactly what the old one-at-a-time path checked); or nothing, in which case the
 * request is retried alone and the answer comes from that.
 */
export type RedemptionOutcome = { kind: 'granted'; use: GrantedUse } | { kind: 'refused' } | { kind: 'alone' };

/** What the batched UPDATE returns for each token it counted uses of. */
export interface BatchRedeemedRow {
  id: string;
  token_hash: string;
  namespace: string;
  service_account: string;
  token_prefix: string;
  /** `uses` before this statement. */
  before: number;
  /** Uses this statement added: at most the requests for the token, at most what was left. */
  granted: number;
  max_uses: number;
}

/**
 * Counts the uses of a whole batch of redemptions in one statement (one commit).
 *
 * `wanted` counts the requests per token. `locked` locks every usable token row among them
 * (not revoked, not expired at $2, uses left), in id order so that two batches can never
 * deadlock, and computes how many of its requests it can grant: `LEAST(requests, max_uses -
 * uses)`. Under READ COMMITTED a row another transaction changed meanwhile is re-read and
 * re-checked once its lock is ours, so `before` and `granted` come from the latest committed
 * row. The UPDATE then adds exactly `granted` to that row, and only if `uses` is still `before`
 * (always true while we hold the lock; a mismatch leaves the row alone and its requests fall
 * back to the one-at-a-time path). `uses` therefore never exceeds `max_uses`.
 */
export const BATCH_REDEEM_SQL = `
  WITH wanted AS (
    SELECT token_hash, count(*)::int AS n
      FROM unnest($1::char(64)[]) AS requested(token_hash)
     GROUP BY token_hash
  ), locked AS (
    SELECT t.id, t.uses AS before, LEAST(w.n, t.max_uses - t.uses) AS granted
      FROM citadel_join_tokens t
      JOIN wanted w ON w.token_hash = t.token_hash
     WHERE t.revoked_at IS NULL AND t.expires_at > $2 AND t.uses < t.max_uses
     ORDER BY t.id
       FOR UPDATE OF t
  )
  UPDATE citadel_join_tokens t
     SET uses = t.uses + l.granted, last_used_at = $2
    FROM locked l
   WHERE t.id = l.id AND t.uses = l.before AND l.granted > 0
  RETURNING t.id, t.token_hash, t.namespace, t.service_account, t.token_prefix,
            l.before, l.granted, t.max_uses`;

/**
 * The clock a batch is checked against: the latest of its requests' clocks, so a batch never
 * accepts a token that any of its requests would have found expired.
 */
export function batchClock(requests: readonly RedemptionRequest[]): Date {
  return new Date(Math.max(...requests.map((request) => request.now.getTime())));
}

/**
 * Hands the uses the statement granted to the requests, first come first served per token;
 * `alone` for a request that got none (unknown, refused, or over what was left): it is
 * retried alone, which either succeeds or says exactly why not.
 */
export function assignGrants(
  requests: readonly RedemptionRequest[],
  rows: readonly BatchRedeemedRow[],
): RedemptionOutcome[] {
  const byHash = new Map(rows.map((row) => [row.token_hash, { row, handedOut: 0 }]));
  return requests.map(({ tokenHash }): RedemptionOutcome => {
    const token = byHash.get(tokenHash);
    if (!token || token.handedOut >= token.row.granted) return { kind: 'alone' };
    token.handedOut++;
    const use: GrantedUse = {
      id: token.row.id,
      namespace: token.row.namespace,
      serviceAccount: token.row.service_account,
      tokenPrefix: token.row.token_prefix,
      uses: token.row.before + token.handedOut,
      maxUses: token.row.max_uses,
    };
    return { kind: 'granted', use };
  });
}
