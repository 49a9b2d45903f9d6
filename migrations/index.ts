import { ApiToken } from '#libs/auth';
import { ApiTokens1764000000000 } from './1764000000000-api-tokens';

/** Every migration, oldest first. A new migration is added here as well as to this folder. */
export const MIGRATIONS = [ApiTokens1764000000000];

/** Every entity of every app: after all MIGRATIONS, the schema must match these exactly. */
export const ENTITIES = [ApiToken];
