/** What a masked value is replaced with in a stored decision. */
export const MASKED = '[masked]';

/** Headers whose values are always masked, wherever headers appear (names compared case-insensitively). */
export const SECRET_HEADERS: readonly string[] = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization'];

/** A copy of `headers` with the values of SECRET_HEADERS replaced by MASKED. */
export function maskSecretHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const name of Object.keys(headers)) {
    copy[name] = SECRET_HEADERS.includes(name.toLowerCase()) ? MASKED : headers[name];
  }
  return copy;
}
