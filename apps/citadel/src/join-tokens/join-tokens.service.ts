import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type FindOptionsWhere, type Repository } from 'typeorm';
import { BowlineError, Kinds } from '#libs/errors';
import { GroupCommit } from '../batching/group-commit';
import { JoinToken } from './join-token.entity';
import {
  assignGrants,
  BATCH_REDEEM_SQL,
  type BatchRedeemedRow,
  batchClock,
  type GrantedUse,
  type RedemptionOutcome,
  type RedemptionRequest,
} from './join-token-redemption';
import { mintProblems, spiffeIdPath } from './join-token-rules';
import { generateJoinToken, hashJoinToken, joinTokenDisplayPrefix, MAX_JOIN_TOKEN_LENGTH } from './join-token-secret';

export interface MintJoinTokenParams {
  namespace: string;
  serviceAccount: string;
  ttlSeconds: number;
  maxUses: number;
  /** The admin API token that asked for it. */
  createdBy?: string;
}

export interface JoinTokenFilter {
  namespace?: string;
  serviceAccount?: string;
}

/** A join token as the API shows it: never the hash, the secret only once at minting. */
export interface JoinTokenView {
  id: string;
  namespace: string;
  serviceAccount: string;
  /** `ns/<namespace>/sa/<service account>`: the identity the token grants. */
  spiffeIdPath: string;
  tokenPrefix: string;
  maxUses: number;
  uses: number;
  expiresAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
  createdBy: string | null;
}

/** What one successful redemption proves: the workload identity the token is bound to. */
export interface RedeemedJoinToken {
  tokenId: string;
  namespace: string;
  serviceAccount: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Most redemptions counted by one statement. */
const MAX_REDEMPTION_BATCH = 256;

/** Consumes one use, only while the token is usable: the row lock makes concurrent redemptions queue. */
const REDEEM_SQL = `
  UPDATE citadel_join_tokens
     SET uses = uses + 1, last_used_at = $2
   WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND uses < max_uses
  RETURNING id, namespace, service_account, token_prefix, uses, max_uses`;

interface RedeemedRow {
  id: string;
  namespace: string;
  service_account: string;
  token_prefix: string;
  uses: number;
  max_uses: number;
}

/** Join tokens: the one-time (or few-times) credentials a workload presents on first contact. */
@Injectable()
export class JoinTokensService {
  private readonly logger = new Logger('JoinTokens');
  private readonly tokens: Repository<JoinToken>;
  /** Concurrent redemptions share one UPDATE and one commit (see BATCH_REDEEM_SQL). */
  private readonly redemptions: GroupCommit<RedemptionRequest, RedemptionOutcome>;

  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {
    this.tokens = dataSource.getRepository(JoinToken);
    this.redemptions = new GroupCommit((batch) => this.redeemBatch(batch), { maxBatch: MAX_REDEMPTION_BATCH });
  }

  /** Mints a token bound to one (namespace, service account); `token` is shown only this once. */
  async mint(params: MintJoinTokenParams, now = new Date()): Promise<{ token: string; view: JoinTokenView }> {
    const problems = mintProblems(params);
    if (problems.length > 0) {
      const summary = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      throw new BowlineError(Kinds.INVALID_ARGUMENT, `invalid join token request: ${summary}`, problems);
    }
    const token = generateJoinToken();
    const saved = await this.tokens.save(
      this.tokens.create({
        namespace: params.namespace,
        serviceAccount: params.serviceAccount,
        tokenHash: hashJoinToken(token),
        tokenPrefix: joinTokenDisplayPrefix(token),
        maxUses: params.maxUses,
        uses: 0,
        expiresAt: new Date(now.getTime() + params.ttlSeconds * 1000),
        revokedAt: null,
        lastUsedAt: null,
        createdBy: params.createdBy ?? null,
        createdAt: now,
      }),
    );
    const view = toView(saved);
    this.logger.log({
      msg: 'minted a join token',
      id: view.id,
      spiffeIdPath: view.spiffeIdPath,
      tokenPrefix: view.tokenPrefix,
      maxUses: view.maxUses,
      expiresAt: view.expiresAt,
      createdBy: view.createdBy,
    });
    return { token, view };
  }

  /** Join tokens, newest first, optionally of one namespace and/or service account. */
  async list(filter: JoinTokenFilter = {}): Promise<JoinTokenView[]> {
    const where: FindOptionsWhere<JoinToken> = {};
    if (filter.namespace !== undefined) where.namespace = filter.namespace;
    if (filter.serviceAccount !== undefined) where.serviceAccount = filter.serviceAccount;
    const rows = await this.tokens.find({ where, order: { createdAt: 'DESC', id: 'ASC' } });
    return rows.map(toView);
  }

  /** Revokes a token so it can no longer be redeemed. Revoking it again changes nothing. */
  async revoke(id: string, now = new Date()): Promise<JoinTokenView> {
    if (!UUID.test(id)) throw notFound(id);
    return this.dataSource.transaction(async (manager) => {
      const repo = manager.getRepository(JoinToken);
      const token = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!token) throw notFound(id);
      if (token.revokedAt) return toView(token);
      token.revokedAt = now;
      const view = toView(await repo.save(token));
      this.logger.log({ msg: 'revoked a join token', id, tokenPrefix: view.tokenPrefix });
      return view;
    });
  }

  /**
   * Consumes one use of a token and returns the identity it is bound to. Concurrent
   * redemptions are counted together by one statement that never grants more than the uses
   * left; a request it could not serve is retried alone (one statement that checks and
   * counts), which succeeds or says why not. Either way `uses` never exceeds `maxUses`.
   *
   * @throws BowlineError UNAUTHENTICATED saying why: unknown, revoked, expired or used up.
   */
  async redeem(token: string, now = new Date()): Promise<RedeemedJoinToken> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_JOIN_TOKEN_LENGTH) {
      throw this.refuse('unknown', 'join token not recognised');
    }
    const tokenHash = hashJoinToken(token);
    const granted = await this.settle(await this.redemptions.submit({ tokenHash, now }), tokenHash, now);
    this.logger.log({
      msg: 'redeemed a join token',
      id: granted.id,
      tokenPrefix: granted.tokenPrefix,
      spiffeIdPath: spiffeIdPath(granted.namespace, granted.serviceAccount),
      uses: granted.uses,
      maxUses: granted.maxUses,
    });
    return { tokenId: granted.id, namespace: granted.namespace, serviceAccount: granted.serviceAccount };
  }

  /** The use a batch granted, the reason it was refused, or the answer of a retry alone. */
  private async settle(outcome: RedemptionOutcome, tokenHash: string, now: Date): Promise<GrantedUse> {
    if (outcome.kind === 'granted') return outcome.use;
    if (outcome.kind === 'refused') throw await this.explainRefusal(tokenHash, now);
    return this.redeemAlone(tokenHash, now);
  }

  /**
   * One statement for a whole batch. A batch of one uses the one-row UPDATE, which costs
   * PostgreSQL half as much as the batched one does for a single request. If the statement
   * fails, every request of the batch is retried alone, as before batching: one broken batch
   * never refuses requests that would have succeeded on their own.
   */
  private async redeemBatch(batch: readonly RedemptionRequest[]): Promise<RedemptionOutcome[]> {
    try {
      const [only] = batch;
      if (batch.length === 1 && only) {
        const use = await this.redeemOne(only.tokenHash, only.now);
        return [use ? { kind: 'granted', use } : { kind: 'refused' }];
      }
      const result: unknown = await this.dataSource.query(BATCH_REDEEM_SQL, [
        batch.map((request) => request.tokenHash),
        batchClock(batch),
      ]);
      return assignGrants(batch, returnedRows<BatchRedeemedRow>(result));
    } catch (error) {
      this.logger.warn({
        msg: 'batched join token redemption failed; redeeming one at a time',
        requests: batch.length,
        reason: error instanceof Error ? error.message : String(error),
      });
      return batch.map(() => ({ kind: 'alone' }));
    }
  }

  /** The one-request path: check and count in one UPDATE, or explain the refusal. */
  private async redeemAlone(tokenHash: string, now: Date): Promise<GrantedUse> {
    const use = await this.redeemOne(tokenHash, now);
    if (!use) throw await this.explainRefusal(tokenHash, now);
    return use;
  }

  /** One UPDATE that checks and counts one use; undefined when the token is not usable. */
  private async redeemOne(tokenHash: string, now: Date): Promise<GrantedUse | undefined> {
    const result: unknown = await this.dataSource.query(REDEEM_SQL, [tokenHash, now]);
    const row = returnedRows<RedeemedRow>(result)[0];
    if (!row) return undefined;
    return {
      id: row.id,
      namespace: row.namespace,
      serviceAccount: row.service_account,
      tokenPrefix: row.token_prefix,
      uses: row.uses,
      maxUses: row.max_uses,
    };
  }

  /** Why a token the redeeming UPDATE skipped is not usable now. */
  private async explainRefusal(tokenHash: string, now: Date): Promise<BowlineError> {
    const found = await this.tokens.findOne({ where: { tokenHash } });
    if (!found) return this.refuse('unknown', 'join token not recognised');
    const name = `join token ${found.tokenPrefix}…`;
    if (found.revokedAt) {
      return this.refuse('revoked', `${name} was revoked at ${found.revokedAt.toISOString()}`, found);
    }
    if (found.expiresAt.getTime() <= now.getTime()) {
      return this.refuse('expired', `${name} expired at ${found.expiresAt.toISOString()}`, found);
    }
    if (found.uses >= found.maxUses) {
      return this.refuse('used up', `${name} has been used ${found.uses} of ${found.maxUses} times`, found);
    }
    // Unreachable unless the row changed between the two statements (e.g. maxUses raised by hand).
    return this.refuse('changed', `${name} could not be redeemed; try again`, found);
  }

  private refuse(reason: string, message: string, token?: JoinToken): BowlineError {
    this.logger.warn({ msg: 'refused a join token', reason, id: token?.id, tokenPrefix: token?.tokenPrefix });
    return new BowlineError(Kinds.UNAUTHENTICATED, message);
  }
}

/** The RETURNING rows of an UPDATE run through TypeORM, which answers `[rows, count]` for it. */
function returnedRows<T>(result: unknown): T[] {
  if (Array.isArray(result) && Array.isArray(result[0])) return result[0] as T[];
  return Array.isArray(result) ? (result as T[]) : [];
}

function notFound(id: string): BowlineError {
  return new BowlineError(Kinds.NOT_FOUND, `no join token with id ${id}`);
}

function toView(token: JoinToken): JoinTokenView {
  return {
    id: token.id,
    namespace: token.namespace,
    serviceAccount: token.serviceAccount,
    spiffeIdPath: spiffeIdPath(token.namespace, token.serviceAccount),
    tokenPrefix: token.tokenPrefix,
    maxUses: token.maxUses,
    uses: token.uses,
    expiresAt: token.expiresAt.toISOString(),
    revokedAt: token.revokedAt?.toISOString() ?? null,
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
    createdAt: token.createdAt.toISOString(),
    createdBy: token.createdBy,
  };
}
