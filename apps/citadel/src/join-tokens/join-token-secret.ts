import { createHash, randomBytes } from 'node:crypto';

const JOIN_TOKEN_PREFIX = 'bjt_';

/** The longest string worth hashing when looking a token up: real ones are 47 characters. */
export const MAX_JOIN_TOKEN_LENGTH = 256;

/** A new join token: `bjt_` + 256 random bits (base64url). High entropy, so SHA-256 is a safe hash. */
export function generateJoinToken(): string {
  return JOIN_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Hex SHA-256 of the whole token: the only form of it that is stored. */
export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** What may be shown of a token: enough to tell tokens apart, far too little to use one. */
export function joinTokenDisplayPrefix(token: string): string {
  return token.slice(0, 12);
}
