/** What a masked value is replaced with in a stored decision. */
export const MASKED = '[masked]';

/** Headers whose values are always masked, wherever headers appear (names compared case-insensitively). */
export const SECRET_HEADERS: readonly string[] = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization'];

/** A copy of `headers` with the values of SECRET_HEADERS replaced by MASKED. */
export function maskSecretHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [
      name,
      SECRET_HEADERS.includes(name.toLowerCase()) ? MASKED : value,
    ]),
  );
}
