import { MASKED, maskSecretHeaders } from '#libs/policy-runtime';

export { MASKED };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `/a/b~1c` → `['a', 'b/c']` (RFC 6901). The pointer is assumed valid (config checks it). */
export function pointerTokens(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function maskHeaderValues(headers: unknown): unknown {
  return isObject(headers) ? maskSecretHeaders(headers) : headers;
}

/** A copy of `doc` with the value at `tokens` replaced by MASKED; `doc` itself (the same object) when nothing is there. */
function maskAt(doc: unknown, tokens: readonly string[]): unknown {
  if (tokens.length === 0) return MASKED;
  const [head, ...rest] = tokens;
  if (Array.isArray(doc)) {
    if (!/^(0|[1-9]\d*)$/.test(head) || Number(head) >= doc.length) return doc;
    const child = maskAt(doc[Number(head)], rest);
    if (child === doc[Number(head)]) return doc;
    const copy = [...doc];
    copy[Number(head)] = child;
    return copy;
  }
  if (!isObject(doc) || !Object.prototype.hasOwnProperty.call(doc, head)) return doc;
  const child = maskAt(doc[head], rest);
  return child === doc[head] ? doc : { ...doc, [head]: child };
}

/**
 * Masks an input document before it is stored: the values of SECRET_HEADERS in
 * `attributes.request.http.headers`, then every configured JSON pointer that resolves.
 * Returns a copy; the caller's document (still used for the decision) is not touched.
 */
export class InputMasker {
  private readonly pointers: readonly string[][];

  constructor(pointers: readonly string[] = []) {
    this.pointers = pointers.map(pointerTokens);
  }

  mask(input: unknown): unknown {
    const headersPath = ['attributes', 'request', 'http', 'headers'];
    let masked: unknown = input;
    const headers = headersPath.reduce<unknown>((at, key) => (isObject(at) ? at[key] : undefined), input);
    if (isObject(headers)) masked = replaceAt(masked, headersPath, maskHeaderValues(headers));
    for (const tokens of this.pointers) {
      const before = masked;
      masked = maskAt(masked, tokens);
      // The raw body holds what parsed_body does: once part of the parsed body is masked, so is the raw body.
      if (masked !== before && tokens[0] === 'parsed_body') masked = maskRawBody(masked);
    }
    return masked;
  }

  /** Masks the secret headers a decision adds (`headers`, `response_headers_to_add`) in an object result. */
  maskResult(result: unknown): unknown {
    if (!isObject(result)) return result;
    const copy = { ...result };
    for (const key of ['headers', 'response_headers_to_add']) {
      const value = copy[key];
      if (Array.isArray(value)) copy[key] = value.map(maskHeaderValues);
      else if (value !== undefined) copy[key] = maskHeaderValues(value);
    }
    return copy;
  }
}

function maskRawBody(input: unknown): unknown {
  let masked = input;
  for (const key of ['body', 'rawBody']) {
    const path = ['attributes', 'request', 'http', key];
    const value = path.reduce<unknown>((at, k) => (isObject(at) ? at[k] : undefined), masked);
    if (value !== undefined) masked = replaceAt(masked, path, MASKED);
  }
  return masked;
}

function replaceAt(doc: unknown, tokens: readonly string[], value: unknown): unknown {
  if (tokens.length === 0) return value;
  const [head, ...rest] = tokens;
  if (!isObject(doc)) return doc;
  return { ...doc, [head]: replaceAt(doc[head], rest, value) };
}
