import { ApiToken } from '#libs/auth';
import { CaAuthority } from '../apps/citadel/src/keys/ca-authority.entity';
import { IssuedCertificate } from '../apps/citadel/src/inventory/issued-certificate.entity';
import { JoinToken } from '../apps/citadel/src/join-tokens/join-token.entity';
import { ApiTokens1764000000000 } from './1764000000000-api-tokens';
import { Citadel1764100000000 } from './1764100000000-citadel';

/** Every migration, oldest first. A new migration is added here as well as to this folder. */
export const MIGRATIONS = [ApiTokens1764000000000, Citadel1764100000000];

/** Every entity of every app: after all MIGRATIONS, the schema must match these exactly. */
export const ENTITIES = [ApiToken, CaAuthority, JoinToken, IssuedCertificate];
