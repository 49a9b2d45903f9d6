import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { BowlineError, Kinds } from '#libs/errors';
import { PUBLIC_ROUTE, REQUIRED_ROLE } from './access.decorators';
import { roleAllows, type Role } from './roles';
import { type Principal, TokensService } from './tokens.service';

export type AuthenticatedRequest = Request & { principal?: Principal };

/**
 * Guards every HTTP admin route: 401 without a valid bearer token, 403 without the role.
 * Fails closed: a route that declares nothing requires `admin`.
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(TokensService) private readonly tokens: TokensService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true; // gRPC authenticates per service.
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const required = this.reflector.getAllAndOverride<Role>(REQUIRED_ROLE, targets) ?? 'admin';

    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request.headers.authorization);
    const principal = token ? await this.tokens.authenticate(token) : null;
    if (!principal) {
      throw new BowlineError(
        Kinds.UNAUTHENTICATED,
        'a valid API token is required: send "Authorization: Bearer <token>"',
      );
    }
    if (!roleAllows(principal.role, required)) {
      throw new BowlineError(
        Kinds.PERMISSION_DENIED,
        `this endpoint needs the "${required}" role; the token has "${principal.role}"`,
      );
    }
    request.principal = principal;
    return true;
  }
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
