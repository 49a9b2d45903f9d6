import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { BowlineError, Kinds } from '#libs/errors';
import { PROXY_ADMIN_TOKEN } from './tokens';

/** The admin token as the guard keeps it: only its SHA-256 digest. */
export interface AdminTokenDigest {
  readonly sha256: Buffer;
}

/**
 * The digest of `token`.
 *
 * @throws Error when `token` is empty: an admin API anyone could call is a configuration bug.
 */
export function adminTokenDigest(token: string): AdminTokenDigest {
  if (token.length === 0) throw new Error('the proxy admin token must not be empty');
  return Object.freeze({ sha256: sha256(token) });
}

/**
 * Does `authorization` carry `Bearer <token>` for the expected token? Compares SHA-256
 * digests in constant time, so neither the token's content nor its length leaks through timing.
 */
export function bearerMatches(authorization: string | undefined, expected: AdminTokenDigest): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) return false;
  return timingSafeEqual(sha256(match[1]!), expected.sha256);
}

/**
 * The proxy admin API's authentication: one static bearer token (the proxy has no token
 * database). A request without it is answered 401 `application/problem+json` (by the
 * controller's ProblemFilter).
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(@Inject(PROXY_ADMIN_TOKEN) private readonly expected: AdminTokenDigest) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    if (!bearerMatches(request.headers.authorization, this.expected)) {
      throw new BowlineError(
        Kinds.UNAUTHENTICATED,
        'the proxy admin token is required: send "Authorization: Bearer <token>"',
      );
    }
    return true;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
