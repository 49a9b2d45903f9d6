/**
 * The `input` document, exactly as opa-envoy-plugin builds it from an ext_authz CheckRequest
 * (the request as protobuf JSON, plus `parsed_path`, `parsed_query`, `parsed_body`,
 * `truncated_body` and `version`), so a policy written for opa-envoy-plugin runs unchanged.
 * Bowline adds `input.bowline.{source, destination}`: the peers' SPIFFE identities, parsed.
 */

/** The request is not one a policy can be asked about (e.g. a malformed path or JSON body). */
export class InputError extends Error {}

/** A peer's workload identity, parsed from a Kubernetes-style SPIFFE ID when it is one. */
export interface WorkloadIdentity {
  principal: string;
  trustDomain?: string;
  namespace?: string;
  serviceAccount?: string;
}

/** One HTTP request as a proxy (or a what-if caller) sees it. */
export interface HttpRequestDescription {
  /** The caller's principal (its SPIFFE ID when it authenticated with mTLS). */
  source?: string;
  /** The called workload's principal. */
  destination?: string;
  method: string;
  /** Path with query string, as on the request line (`/api/v1/items?limit=10`). */
  path: string;
  host?: string;
  scheme?: string;
  /** Header names are lower-cased, as Envoy sends them. */
  headers?: Record<string, string>;
  body?: string;
  id?: string;
  protocol?: string;
  /** Envoy's `context_extensions` for the route. */
  contextExtensions?: Record<string, string>;
  /** When the request arrived; defaults to now. */
  time?: Date;
}

const SPIFFE_K8S = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

/** `{principal, trustDomain, namespace, serviceAccount}` from a SPIFFE ID (just `principal` otherwise). */
export function workloadIdentity(principal: string): WorkloadIdentity {
  const m = SPIFFE_K8S.exec(principal);
  return m ? { principal, trustDomain: m[1], namespace: m[2], serviceAccount: m[3] } : { principal };
}

/** Go's `url.Parse(path)` then opa-envoy-plugin's split: `parsed_path` and `parsed_query`. */
export function parsePathAndQuery(path: string): { parsedPath: string[]; parsedQuery: Record<string, string[]> } {
  const withoutFragment = path.split('#')[0];
  const q = withoutFragment.indexOf('?');
  const rawPath = q < 0 ? withoutFragment : withoutFragment.slice(0, q);
  const rawQuery = q < 0 ? '' : withoutFragment.slice(q + 1);
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new InputError(`invalid URL escape in path ${JSON.stringify(rawPath)}`);
  }
  const parsedQuery: Record<string, string[]> = {};
  for (const pair of rawQuery.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const [rawKey, rawValue] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
    try {
      const key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
      (parsedQuery[key] ??= []).push(decodeURIComponent(rawValue.replace(/\+/g, ' ')));
    } catch {
      continue; // Go's url.Query() drops pairs it cannot unescape
    }
  }
  return { parsedPath: decoded.replace(/^\/+/, '').split('/'), parsedQuery };
}

/** opa-envoy-plugin's `parsed_body` (JSON or form) and `truncated_body`. */
export function parseBody(headers: Record<string, string>, body: string): { parsedBody: unknown; truncated: boolean } {
  const contentType = headers['content-type'];
  if (contentType === undefined || body === '') return { parsedBody: null, truncated: false };
  const isJson = contentType.includes('application/json');
  const isForm = contentType.includes('application/x-www-form-urlencoded');
  if (!isJson && !isForm) return { parsedBody: null, truncated: false };
  const length = headers['content-length'];
  if (length !== undefined && /^\d+$/.test(length) && Number(length) > Buffer.byteLength(body)) {
    return { parsedBody: null, truncated: true };
  }
  if (isForm) {
    const form: Record<string, string[]> = {};
    for (const pair of body.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const [k, v] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
      try {
        (form[decodeURIComponent(k.replace(/\+/g, ' '))] ??= []).push(decodeURIComponent(v.replace(/\+/g, ' ')));
      } catch {
        throw new InputError('invalid URL escape in the form body');
      }
    }
    return { parsedBody: form, truncated: false };
  }
  try {
    return { parsedBody: JSON.parse(body), truncated: false };
  } catch {
    throw new InputError('the request body is not valid JSON although content-type says so');
  }
}

/**
 * Completes an `attributes` object (protobuf JSON names, as opa-envoy-plugin marshals it)
 * into the full input document.
 */
export function inputFromAttributes(attributes: Record<string, unknown>): Record<string, unknown> {
  const http = ((attributes.request as Record<string, unknown> | undefined)?.http ?? {}) as Record<string, unknown>;
  const headers = (http.headers ?? {}) as Record<string, string>;
  const rawBody = typeof http.rawBody === 'string' ? Buffer.from(http.rawBody, 'base64').toString('utf8') : '';
  const body = typeof http.body === 'string' && http.body !== '' ? http.body : rawBody;
  const { parsedPath, parsedQuery } = parsePathAndQuery(typeof http.path === 'string' ? http.path : '');
  const { parsedBody, truncated } = parseBody(headers, body);
  const principal = (peer: unknown) => (peer as { principal?: unknown } | undefined)?.principal;
  const identity = (peer: unknown) => {
    const p = principal(peer);
    return typeof p === 'string' && p !== '' ? workloadIdentity(p) : null;
  };
  return {
    attributes,
    parsed_path: parsedPath,
    parsed_query: parsedQuery,
    parsed_body: parsedBody,
    truncated_body: truncated,
    version: { encoding: 'protojson', ext_authz: 'v3' },
    bowline: { source: identity(attributes.source), destination: identity(attributes.destination) },
  };
}

/** Builds the input document for one HTTP request, as Envoy's ext_authz filter would describe it. */
export function buildInput(request: HttpRequestDescription): Record<string, unknown> {
  return inputFromAttributes(httpAttributes(request));
}

/** The `attributes` of buildInput's document (what Envoy's ext_authz filter sends), alone. */
export function httpAttributes(request: HttpRequestDescription): Record<string, unknown> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
  const method = request.method.toUpperCase();
  headers[':method'] ??= method;
  headers[':path'] ??= request.path;
  if (request.host !== undefined) headers[':authority'] ??= request.host;
  const host = request.host ?? headers[':authority'] ?? headers.host;
  const http: Record<string, unknown> = { method, headers, path: request.path };
  if (request.id) http.id = request.id;
  if (host) http.host = host;
  if (request.scheme) http.scheme = request.scheme;
  if (request.protocol) http.protocol = request.protocol;
  if (request.body) {
    http.body = request.body;
    http.size = String(Buffer.byteLength(request.body));
  }
  const attributes: Record<string, unknown> = {
    request: { time: (request.time ?? new Date()).toISOString(), http },
  };
  if (request.source) attributes.source = { principal: request.source };
  if (request.destination) attributes.destination = { principal: request.destination };
  if (request.contextExtensions && Object.keys(request.contextExtensions).length > 0) {
    attributes.contextExtensions = request.contextExtensions;
  }
  return attributes;
}

/**
 * The path as Istio's default `pathNormalization` (BASE) hands it to authorization: dot segments
 * removed as RFC 3986 section 5.2.4 says (`/a/../admin` → `/admin`); the query is kept as is.
 */
export function normaliseRequestPath(path: string): string {
  const q = path.search(/[?#]/);
  const [raw, rest] = q < 0 ? [path, ''] : [path.slice(0, q), path.slice(q)];
  // Without a dot segment (every one follows a `/`), an absolute path is already normal.
  if (raw.startsWith('/') && !raw.includes('/.')) return path;
  const out: string[] = [];
  const segments = raw.split('/').slice(1);
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '..') out.pop();
    if (segment === '.' || segment === '..') {
      if (last) out.push('');
    } else out.push(segment);
  });
  return `/${out.join('/')}${rest}`;
}

/** Envoy's `Address` (`socketAddress`) as ext_authz attributes carry it; unknown parts left out. */
export function socketAddress(address: string | undefined, port: number | undefined): Record<string, unknown> {
  return { socketAddress: { ...(address ? { address } : {}), ...(port ? { portValue: port } : {}) } };
}
