import { Inject, Injectable } from '@nestjs/common';
import { DataSource, IsNull, type Repository } from 'typeorm';
import { BowlineError, Kinds } from '#libs/errors';
import { ApiToken } from './api-token.entity';
import type { Role } from './roles';
import { displayPrefix, generateToken, hashToken } from './token-secret';

/** Who made an authenticated admin request. */
export interface Principal {
  readonly tokenId: string;
  readonly name: string;
  readonly role: Role;
}

export interface CreateTokenParams {
  name: string;
  role: Role;
  /** Lifetime; unset means the token does not expire. */
  ttlSeconds?: number;
  createdBy?: string;
}

/** A token as the API shows it: never the hash, the secret only once at creation. */
export interface TokenView {
  id: string;
  name: string;
  role: Role;
  tokenPrefix: string;
  createdAt: string;
  createdBy: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

const LAST_USED_RESOLUTION_MS = 60_000;

@Injectable()
export class TokensService {
  private readonly tokens: Repository<ApiToken>;

  constructor(@Inject(DataSource) dataSource: DataSource) {
    this.tokens = dataSource.getRepository(ApiToken);
  }

  async create(params: CreateTokenParams, now = new Date()): Promise<{ token: string; view: TokenView }> {
    const token = generateToken();
    const saved = await this.tokens.save(
      this.tokens.create({
        name: params.name,
        role: params.role,
        tokenHash: hashToken(token),
        tokenPrefix: displayPrefix(token),
        createdBy: params.createdBy ?? null,
        expiresAt: params.ttlSeconds ? new Date(now.getTime() + params.ttlSeconds * 1000) : null,
      }),
    );
    return { token, view: toView(saved) };
  }

  async list(): Promise<TokenView[]> {
    const rows = await this.tokens.find({ order: { createdAt: 'ASC' } });
    return rows.map(toView);
  }

  /** Revokes a token; refuses to revoke the last usable admin token (nobody could mint another). */
  async revoke(id: string, now = new Date()): Promise<TokenView> {
    return this.tokens.manager.transaction(async (manager) => {
      const repo = manager.getRepository(ApiToken);
      const token = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!token) throw new BowlineError(Kinds.NOT_FOUND, `no API token with id ${id}`);
      if (token.revokedAt) return toView(token);
      if (token.role === 'admin' && isUsable(token, now)) {
        const admins = await repo.find({ where: { role: 'admin', revokedAt: IsNull() } });
        if (admins.filter((t) => isUsable(t, now)).length <= 1) {
          throw new BowlineError(
            Kinds.CONFLICT,
            'refusing to revoke the last usable admin token; create another admin token first',
          );
        }
      }
      token.revokedAt = now;
      return toView(await repo.save(token));
    });
  }

  /** The principal for a presented token, or null when it is unknown, revoked or expired. */
  async authenticate(token: string, now = new Date()): Promise<Principal | null> {
    const found = await this.tokens.findOne({ where: { tokenHash: hashToken(token) } });
    if (!found || !isUsable(found, now)) return null;
    if (!found.lastUsedAt || now.getTime() - found.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await this.tokens.update({ id: found.id }, { lastUsedAt: now });
    }
    return { tokenId: found.id, name: found.name, role: found.role };
  }
}

function isUsable(token: ApiToken, now: Date): boolean {
  return !token.revokedAt && (!token.expiresAt || token.expiresAt.getTime() > now.getTime());
}

function toView(token: ApiToken): TokenView {
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    tokenPrefix: token.tokenPrefix,
    createdAt: token.createdAt.toISOString(),
    createdBy: token.createdBy,
    expiresAt: token.expiresAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
  };
}
