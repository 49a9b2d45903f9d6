import { createHash, randomBytes } from 'node:crypto';

const TOKEN_PREFIX = 'bwl_';

/** A new token: `bwl_` + 256 random bits (base64url). High entropy, so SHA-256 is a safe hash. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** What may be shown of a token: enough to tell tokens apart, far too little to use one. */
export function displayPrefix(token: string): string {
  return token.slice(0, 12);
}
