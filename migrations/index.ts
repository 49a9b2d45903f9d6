import { ApiToken } from '#libs/auth';
import { CaAuthority } from '../apps/citadel/src/keys/ca-authority.entity';
import { IssuedCertificate } from '../apps/citadel/src/inventory/issued-certificate.entity';
import { JoinToken } from '../apps/citadel/src/join-tokens/join-token.entity';
import { ApiTokens1764000000000 } from './1764000000000-api-tokens';
import { Citadel1764100000000 } from './1764100000000-citadel';
import { CitadelRotation1764150000000 } from './1764150000000-citadel-rotation';
import { Rotation } from '../apps/citadel/src/rotation/rotation.entity';

/** Every migration, oldest first. A new migration is added here as well as to this folder. */
export const MIGRATIONS = [ApiTokens1764000000000, Citadel1764100000000, CitadelRotation1764150000000];

/** Every entity of every app: after all MIGRATIONS, the schema must match these exactly. */
export const ENTITIES = [ApiToken, CaAuthority, JoinToken, IssuedCertificate, Rotation];
