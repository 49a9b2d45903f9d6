import type {
  HeaderMatcher,
  MeshConfig,
  QueryParameterMatcher,
  OutboundListener,
  Route,
  RouteConfiguration,
  StringMatcher,
  VirtualHost,
  WeightedCluster,
} from './model';

/** The DNS suffix of mesh services (`<name>.<namespace>.svc.cluster.local`). */
export const CLUSTER_DOMAIN = 'cluster.local';

/** Where an outbound request goes: the service listener and the virtual host of its routes. */
export interface OutboundTarget {
  readonly listener: OutboundListener;
  readonly virtualHost: VirtualHost;
}

/** What route matching reads of a request. */
export interface RouteRequest {
  readonly method: string;
  /** The request target as received (path and query). */
  readonly path: string;
  /** Lower-case names (Node's `IncomingHttpHeaders` fits); a repeated header matches as its values joined with `,`. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** For `:scheme` matchers (default `http`). */
  readonly scheme?: string;
}

/** Most distinct authorities remembered per config (Host headers are client input). */
const MAX_CACHED_AUTHORITIES = 4_096;

interface ConfigIndex {
  readonly byHost: ReadonlyMap<string, ReadonlyMap<number, OutboundListener>>;
  readonly cache: Map<string, OutboundTarget | null>;
}

interface DomainIndex {
  readonly exact: ReadonlyMap<string, VirtualHost>;
  /** `*.example.com` as [`.example.com`, host], longest first. */
  readonly suffixes: readonly (readonly [string, VirtualHost])[];
  /** `example.*` as [`example.`, host], longest first. */
  readonly prefixes: readonly (readonly [string, VirtualHost])[];
  readonly any?: VirtualHost;
}

type Matcher = (path: string, request: RouteRequest) => boolean;
type ValueTest = (value: string) => boolean;

const configIndexes = new WeakMap<MeshConfig, ConfigIndex>();
const domainIndexes = new WeakMap<RouteConfiguration, DomainIndex>();
const routeMatchers = new WeakMap<VirtualHost, readonly Matcher[]>();

/**
 * The outbound service an authority (`Host` / `:authority`) names, relative to the proxy's
 * `namespace`: `reviews`, `reviews.default`, `reviews.default.svc` and
 * `reviews.default.svc.cluster.local` name the same service, with or without `:port`. Without a
 * port: `defaultPort` (the port the app connected to) when the service has it, else the service's
 * only port. Undefined when no listener matches, its routes have not arrived, or no virtual host
 * takes the authority. Results are cached per config.
 */
export function resolveOutbound(
  config: MeshConfig,
  authority: string,
  defaultPort?: number,
  namespace = 'default',
): OutboundTarget | undefined {
  const index = configIndex(config);
  const key = `${namespace}|${defaultPort ?? ''}|${authority}`;
  const cached = index.cache.get(key);
  if (cached !== undefined) return cached ?? undefined;
  const target = resolve(config, index, authority.toLowerCase(), defaultPort, namespace);
  if (index.cache.size >= MAX_CACHED_AUTHORITIES) index.cache.clear();
  index.cache.set(key, target ?? null);
  return target;
}

/** The first route of the virtual host that matches the request, in order. */
export function selectRoute(virtualHost: VirtualHost, request: RouteRequest): Route | undefined {
  let matchers = routeMatchers.get(virtualHost);
  if (!matchers) {
    matchers = virtualHost.routes.map(compileRoute);
    routeMatchers.set(virtualHost, matchers);
  }
  const path = pathOnly(request.path);
  for (let i = 0; i < matchers.length; i++) if (matchers[i](path, request)) return virtualHost.routes[i];
  return undefined;
}

/** A cluster name of `clusters` at random, in proportion to the weights. */
export function pickWeighted(clusters: readonly WeightedCluster[], random: () => number = Math.random): string {
  if (clusters.length === 1) return clusters[0].cluster;
  let total = 0;
  for (const entry of clusters) total += entry.weight;
  let point = random() * total;
  for (const entry of clusters) {
    point -= entry.weight;
    if (point < 0) return entry.cluster;
  }
  return clusters[clusters.length - 1].cluster;
}

/**
 * The path to send upstream: the route's `prefixRewrite` replaces the matched prefix (for an
 * exact or regex match, the whole path), or its `regexRewrite` substitutes in the path; the
 * query is kept.
 */
export function rewritePath(route: Route, path: string): string {
  if (route.prefixRewrite === undefined && route.regexRewrite === undefined) return path;
  const end = queryStart(path);
  const rest = path.slice(end);
  if (route.regexRewrite) {
    return path.slice(0, end).replace(route.regexRewrite.pattern, route.regexRewrite.substitution) + rest;
  }
  if (route.match.prefix !== undefined) return route.prefixRewrite + path.slice(route.match.prefix.length, end) + rest;
  return route.prefixRewrite + rest;
}

function resolve(
  config: MeshConfig,
  index: ConfigIndex,
  authority: string,
  defaultPort: number | undefined,
  namespace: string,
): OutboundTarget | undefined {
  const { host, port } = splitAuthority(authority);
  for (const candidate of candidateHosts(host, namespace)) {
    const ports = index.byHost.get(candidate);
    if (!ports) continue;
    const listener = port !== undefined ? ports.get(port) : pickPort(ports, defaultPort);
    if (!listener) continue;
    const routes = config.routes.get(listener.routeConfigName);
    if (!routes) return undefined;
    const virtualHost = findVirtualHost(routes, [authority, `${listener.host}:${listener.port}`, listener.host]);
    return virtualHost ? { listener, virtualHost } : undefined;
  }
  return undefined;
}

function pickPort(ports: ReadonlyMap<number, OutboundListener>, defaultPort?: number): OutboundListener | undefined {
  const preferred = defaultPort !== undefined ? ports.get(defaultPort) : undefined;
  if (preferred) return preferred;
  return ports.size === 1 ? ports.values().next().value : undefined;
}

/** `host[:port]`, `[v6][:port]`; a bare IPv6 address has no port. Trailing dots are dropped. */
function splitAuthority(authority: string): { host: string; port?: number } {
  let host = authority;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    host = authority.slice(1, close < 0 ? undefined : close);
    if (close >= 0 && authority[close + 1] === ':') portText = authority.slice(close + 2);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0 && authority.indexOf(':') === colon) {
      host = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    }
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  const port = portText && /^\d{1,5}$/.test(portText) ? Number(portText) : undefined;
  return { host, port };
}

/** The hosts a client in `namespace` may mean by `host`, as written first. */
function candidateHosts(host: string, namespace: string): string[] {
  const dots = host.split('.').length - 1;
  if (dots === 0) return [host, `${host}.${namespace}.svc.${CLUSTER_DOMAIN}`];
  if (dots === 1) return [host, `${host}.svc.${CLUSTER_DOMAIN}`];
  if (dots === 2 && host.endsWith('.svc')) return [host, `${host}.${CLUSTER_DOMAIN}`];
  return [host];
}

function configIndex(config: MeshConfig): ConfigIndex {
  let index = configIndexes.get(config);
  if (!index) {
    const byHost = new Map<string, Map<number, OutboundListener>>();
    for (const listener of config.listeners.values()) {
      const ports = byHost.get(listener.host) ?? new Map<number, OutboundListener>();
      ports.set(listener.port, listener);
      byHost.set(listener.host, ports);
    }
    index = { byHost, cache: new Map() };
    configIndexes.set(config, index);
  }
  return index;
}

/** Envoy's domain order: exact, then `*.suffix` (longest first), then `prefix.*`, then `*`. */
function findVirtualHost(routes: RouteConfiguration, names: readonly string[]): VirtualHost | undefined {
  const index = domainIndex(routes);
  for (const name of names) {
    const exact = index.exact.get(name);
    if (exact) return exact;
  }
  for (const name of names) {
    for (const [suffix, host] of index.suffixes) if (name.endsWith(suffix) && name.length > suffix.length) return host;
    for (const [prefix, host] of index.prefixes)
      if (name.startsWith(prefix) && name.length > prefix.length) return host;
  }
  return index.any;
}

function domainIndex(routes: RouteConfiguration): DomainIndex {
  let index = domainIndexes.get(routes);
  if (index) return index;
  const exact = new Map<string, VirtualHost>();
  const suffixes: [string, VirtualHost][] = [];
  const prefixes: [string, VirtualHost][] = [];
  let any: VirtualHost | undefined;
  for (const host of routes.virtualHosts) {
    for (const domain of host.domains) {
      if (domain === '*') any ??= host;
      else if (domain.startsWith('*')) suffixes.push([domain.slice(1), host]);
      else if (domain.endsWith('*')) prefixes.push([domain.slice(0, -1), host]);
      else if (!exact.has(domain)) exact.set(domain, host);
    }
  }
  const longestFirst = (a: [string, VirtualHost], b: [string, VirtualHost]) => b[0].length - a[0].length;
  index = { exact, suffixes: suffixes.sort(longestFirst), prefixes: prefixes.sort(longestFirst), any };
  domainIndexes.set(routes, index);
  return index;
}

function compileRoute(route: Route): Matcher {
  const { match } = route;
  const pathMatches = compilePath(route);
  const checks = match.headers.map(compileHeader);
  if (match.queryParameters?.length) checks.push(compileQuery(match.queryParameters));
  if (checks.length === 0) return pathMatches;
  return (path, request) => pathMatches(path, request) && checks.every((matches) => matches(request));
}

/** Every parameter matcher against the query's first value of its name (decoded). */
function compileQuery(matchers: readonly QueryParameterMatcher[]): (request: RouteRequest) => boolean {
  const tests = matchers.map((m) => [m.name, m.match ? compileString(m.match) : undefined] as const);
  return (request) => {
    const start = queryStart(request.path);
    if (start === request.path.length || request.path[start] !== '?') return false;
    const end = request.path.indexOf('#', start);
    const params = new URLSearchParams(request.path.slice(start + 1, end < 0 ? undefined : end));
    return tests.every(([name, test]) => {
      const value = params.get(name);
      return value !== null && (!test || test(value));
    });
  };
}

function compilePath(route: Route): Matcher {
  const { match } = route;
  const fold = !match.caseSensitive;
  if (match.regex) {
    const regex = match.regex;
    return (path) => regex.test(path);
  }
  if (match.path !== undefined) {
    const wanted = fold ? match.path.toLowerCase() : match.path;
    return fold ? (path) => path.toLowerCase() === wanted : (path) => path === wanted;
  }
  const prefix = match.prefix ?? '/';
  const wanted = fold ? prefix.toLowerCase() : prefix;
  return fold ? (path) => path.toLowerCase().startsWith(wanted) : (path) => path.startsWith(wanted);
}

/** Envoy's header matching: a missing header matches only "must be absent" (unless treated as empty). */
function compileHeader(matcher: HeaderMatcher): (request: RouteRequest) => boolean {
  const invert = matcher.invert ?? false;
  const test = matcher.match ? compileString(matcher.match) : undefined;
  const missing = matcher.treatMissingAsEmpty ? '' : undefined;
  return (request) => {
    const value = headerValue(request, matcher.name) ?? missing;
    if (value === undefined) return !test && invert;
    return test ? test(value) !== invert : !invert;
  };
}

function compileString(matcher: StringMatcher): ValueTest {
  if ('regex' in matcher) return (value) => matcher.regex.test(value);
  const fold = matcher.ignoreCase ?? false;
  if ('exact' in matcher) {
    const wanted = fold ? matcher.exact.toLowerCase() : matcher.exact;
    return fold ? (value) => value.toLowerCase() === wanted : (value) => value === wanted;
  }
  const wanted = fold ? matcher.prefix.toLowerCase() : matcher.prefix;
  return fold ? (value) => value.toLowerCase().startsWith(wanted) : (value) => value.startsWith(wanted);
}

function headerValue(request: RouteRequest, name: string): string | undefined {
  switch (name) {
    case ':method':
      return request.method;
    case ':path':
      return request.path;
    case ':scheme':
      return request.scheme ?? 'http';
    case ':authority':
      return joined(request.headers[':authority'] ?? request.headers.host);
    default:
      return joined(request.headers[name]);
  }
}

function joined(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' || value === undefined ? value : value.join(',');
}

function pathOnly(path: string): string {
  const end = queryStart(path);
  return end === path.length ? path : path.slice(0, end);
}

function queryStart(path: string): number {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return i;
  }
  return path.length;
}
