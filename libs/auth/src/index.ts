export { ApiToken } from './api-token.entity';
export { AuthModule } from './auth.module';
export { Public, RequireRole } from './access.decorators';
export { ROLES, roleAllows, type Role } from './roles';
export { TokensService, type Principal, type TokenView } from './tokens.service';
export { parseCreateToken } from './tokens.controller';
export { hashToken } from './token-secret';
