import {
  httpAttributes,
  inputFromAttributes,
  type InputTree,
  type IstioAttributes,
  keyPart,
  normaliseRequestPath,
  parsePathAndQuery,
  pruneInput,
  socketAddress,
  workloadIdentity,
} from '#libs/policy-runtime';
import type { AuthorizationRequest } from '../dataplane/authorization';

/** What the proxy knows about its own workload that AuthorizationPolicy selectors match on. */
export interface LocalWorkloadInfo {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Header values as one string each (repeated headers joined with `, `, as Envoy does). */
export function flattenHeaders(headers: AuthorizationRequest['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * The input document for one inbound request: opa-envoy-plugin's (source principal = the mTLS
 * peer's SPIFFE ID, destination principal = ours), plus `input.bowline.source` (identity and
 * namespace from the principal) and `input.bowline.destination` (our namespace, labels and the
 * app port) that Istio AuthorizationPolicies match on. Throws InputError for a malformed path
 * or body (the caller denies). `time` is the request's arrival (default now).
 */
export function requestInput(
  request: AuthorizationRequest,
  local: LocalWorkloadInfo,
  time?: Date,
): Record<string, unknown> {
  const input = inputFromAttributes(requestAttributesDocument(request, time));
  input.bowline = bowlineDocument(request, local);
  return input;
}

/**
 * `pruneInput(requestInput(request, local, time), tree)`, building only the top-level parts the
 * tree names (input.spec.ts checks it): what a Rego policy that reads those parts is evaluated
 * on, and its kept decisions are found by. Throws InputError where requestInput does.
 */
export function requestInputParts(
  request: AuthorizationRequest,
  local: LocalWorkloadInfo,
  time: Date,
  tree: Exclude<InputTree, true>,
): Record<string, unknown> {
  const path = normaliseRequestPath(request.path);
  // Parsed now when only an escape can make it throw (as requestInput would), else when read.
  let parsed = path.includes('%') ? parsePathAndQuery(path) : undefined;
  const document: Record<string, unknown> = {};
  for (const key of tree.keys()) {
    if (key === 'attributes') document.attributes = requestAttributesDocument(request, time, path);
    else if (key === 'parsed_path') document.parsed_path = (parsed ??= parsePathAndQuery(path)).parsedPath;
    else if (key === 'parsed_query') document.parsed_query = (parsed ??= parsePathAndQuery(path)).parsedQuery;
    else if (key === 'bowline') document.bowline = bowlineDocument(request, local);
    // The rest does not depend on the request (the proxy passes no body): as inputFromAttributes makes it.
    else if (key === 'parsed_body' || key === 'truncated_body' || key === 'version')
      document[key] = inputFromAttributes({})[key];
  }
  return pruneInput(document, tree) as Record<string, unknown>;
}

/** `input.attributes`: what Envoy's ext_authz filter would send, plus the peers' addresses. */
function requestAttributesDocument(
  request: AuthorizationRequest,
  time: Date | undefined,
  path = normaliseRequestPath(request.path),
): Record<string, unknown> {
  const attributes = httpAttributes({
    time,
    source: request.sourcePrincipal,
    destination: request.destinationPrincipal,
    method: request.method,
    path,
    host: request.host,
    headers: flattenHeaders(request.headers),
    protocol: request.protocol,
  }) as Record<string, Record<string, unknown> | undefined>;
  // Added in place (the objects are this document's own): the same keys, in the same order, as
  // spreading them into new objects, with less garbage per request.
  if (request.sourceAddress) (attributes.source ??= {}).address = socketAddress(request.sourceAddress, 0);
  if (request.destinationPort) {
    (attributes.destination ??= {}).address = socketAddress(undefined, request.destinationPort);
  }
  return attributes;
}

/** `input.bowline`: both workloads' identities, and ours as AuthorizationPolicy selectors see it. */
function bowlineDocument(request: AuthorizationRequest, local: LocalWorkloadInfo): Record<string, unknown> {
  const destination = (request.destinationPrincipal ? workloadIdentity(request.destinationPrincipal) : {}) as Record<
    string,
    unknown
  >;
  destination.namespace = local.namespace;
  destination.labels = local.labels;
  if (request.destinationPort) destination.port = String(request.destinationPort);
  return { source: request.sourcePrincipal ? workloadIdentity(request.sourcePrincipal) : {}, destination };
}

/** The attributes requestAttributes can set, by istioAttributes key. */
const SETTABLE = [
  'source.principal',
  'source.namespace',
  'source.ip',
  'remote.ip',
  'destination.port',
  'request.host',
  'request.method',
  'request.path',
  'destination.namespace',
  'destination.labels',
] as const;

/** Which attributes a module reads (a bundle's `istio.attributes`): requestAttributes sets only those. */
export type AttributeSelection = Readonly<Record<(typeof SETTABLE)[number], boolean>>;

/** The selection of `names` (other names are ignored: the proxy has no value for them). */
export function attributeSelection(names: readonly string[]): AttributeSelection {
  return Object.fromEntries(SETTABLE.map((name) => [name, names.includes(name)])) as AttributeSelection;
}

/** Every attribute: what `istioAttributes` of the whole input holds. */
export const ALL_ATTRIBUTES: AttributeSelection = attributeSelection(SETTABLE);

/**
 * The Istio attributes of one inbound request, straight from the request: always equal to
 * `istioAttributes(requestInput(request, local), headers)` (input.spec.ts checks it) restricted
 * to the `selected` ones, without building the opa-envoy document, which only a Rego policy and
 * the decision log read. Throws InputError where requestInput does (a path with an invalid
 * escape: the caller denies, whether or not the module reads the path).
 */
export function requestAttributes(
  request: AuthorizationRequest,
  local: LocalWorkloadInfo,
  headers: readonly string[],
  selected: AttributeSelection = ALL_ATTRIBUTES,
): IstioAttributes {
  const path = normaliseRequestPath(request.path);
  if (path.includes('%')) parsePathAndQuery(path); // only an escape can make it throw
  const method = request.method.toUpperCase();
  const out: IstioAttributes = { 'request.headers': {} };
  const principal = request.sourcePrincipal;
  if (principal) {
    const trimmed = principal.startsWith('spiffe://') ? principal.slice('spiffe://'.length) : principal;
    if (trimmed !== '' && selected['source.principal']) out['source.principal'] = trimmed;
    if (selected['source.namespace']) {
      const namespace = workloadIdentity(principal).namespace;
      if (namespace !== undefined) out['source.namespace'] = namespace;
    }
  }
  if (request.sourceAddress) {
    if (selected['source.ip']) out['source.ip'] = request.sourceAddress;
    if (selected['remote.ip']) out['remote.ip'] = request.sourceAddress;
  }
  if (request.destinationPort && selected['destination.port']) {
    out['destination.port'] = String(request.destinationPort);
  }
  if (headers.length > 0) {
    // buildInput's header map: lower-cased names (a later spelling wins), then the pseudo-headers.
    const named = out['request.headers'];
    for (const [name, value] of Object.entries(request.headers)) {
      const lower = name.toLowerCase();
      if (value === undefined || !headers.includes(lower)) continue;
      named[lower] = Array.isArray(value) ? value.join(', ') : value;
    }
    const pseudo: Record<string, string | undefined> = { ':method': method, ':path': path, ':authority': request.host };
    for (const name of headers) {
      if (named[name] === undefined && pseudo[name] !== undefined) named[name] = pseudo[name];
    }
  }
  if (selected['request.host']) {
    const host = request.host ?? (request.headers[':authority'] as string | undefined) ?? request.headers.host;
    if (host) out['request.host'] = host.toLowerCase();
  }
  if (selected['request.method']) out['request.method'] = method;
  if (selected['request.path']) out['request.path'] = path.split('?')[0];
  if (selected['destination.namespace']) out['destination.namespace'] = local.namespace;
  if (selected['destination.labels']) out['destination.labels'] = local.labels;
  return out;
}

/**
 * A key for a request's module input: two requests with the same key (for the same `headers`
 * and `selected`) have the same `requestAttributes(request, local, headers, selected)`, so a
 * decision kept under it is exactly the module's decision for the other (input.spec.ts checks
 * it on many requests). It reads the raw fields those attributes come from, in a fixed order,
 * and builds no object: cheaper than the attributes and their JSON, which a request then needs
 * only when its decision was not kept. Raw fields are finer than attributes (`GET` and `get`
 * differ here, not in the module input): that costs an entry, never a wrong decision. Throws
 * InputError where requestAttributes does.
 */
export function requestKey(
  request: AuthorizationRequest,
  headers: readonly string[],
  selected: AttributeSelection = ALL_ATTRIBUTES,
): string {
  const raw = request.path;
  // What requestAttributes checks (only an escape can make it throw), on the same path.
  if (raw.includes('%')) parsePathAndQuery(normaliseRequestPath(raw));
  let key = '';
  if (selected['source.principal'] || selected['source.namespace']) key += keyPart(request.sourcePrincipal);
  if (selected['source.ip'] || selected['remote.ip']) key += keyPart(request.sourceAddress);
  if (selected['destination.port']) key += keyPart(request.destinationPort?.toString());
  if (selected['request.method'] || headers.includes(':method')) key += keyPart(request.method);
  // request.path drops the query: the part before `?` decides it (normalising changes only what
  // comes before the first `?` or `#`); the `:path` pseudo-header keeps the whole path.
  if (headers.includes(':path')) key += keyPart(raw);
  else if (selected['request.path']) key += keyPart(raw.split('?', 1)[0]);
  if (selected['request.host'] || headers.includes(':authority')) {
    key += keyPart(request.host);
    if (selected['request.host'] && request.host == null) {
      key += keyPart((request.headers[':authority'] as string | undefined) ?? request.headers.host);
    }
  }
  if (headers.length > 0) {
    // Every spelling of a named header, in order (a later one wins in the attributes).
    for (const name in request.headers) {
      const lower = name.toLowerCase();
      const value = request.headers[name];
      if (value === undefined || !headers.includes(lower)) continue;
      key += keyPart(lower) + keyPart(Array.isArray(value) ? value.join(', ') : value);
    }
  }
  return key;
}
