import type {
  FaultPolicy,
  HeaderMatcher,
  QueryParameterMatcher,
  RetryOn,
  RetryPolicy,
  Route,
  RouteConfiguration,
  RouteMatch,
  StringMatcher,
  VirtualHost,
  WeightedCluster,
} from './model';
import { Field } from './proto-reader';

/** Envoy's route timeout when `route.timeout` is unset. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

const FAULT_FILTER = 'envoy.filters.http.fault';
const HTTP_FAULT_TYPE = 'envoy.extensions.filters.http.fault.v3.HTTPFault';
const FILTER_CONFIG_TYPE = 'envoy.config.route.v3.FilterConfig';
const PREVIOUS_HOSTS = 'envoy.retry_host_predicates.previous_hosts';
const PREVIOUS_HOSTS_TYPE = 'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';
/** Envoy's retry_on vocabulary. */
const RETRY_CONDITIONS: ReadonlySet<string> = new Set<RetryOn>([
  '5xx',
  'gateway-error',
  'connect-failure',
  'reset',
  'refused-stream',
  'retriable-4xx',
  'reset-before-request',
  'envoy-ratelimited',
  'retriable-status-codes',
  'retriable-headers',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);
const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** Route-level settings a virtual host hands down to routes that do not set their own. */
interface Inherited {
  readonly retry?: Field;
  readonly fault?: FaultPolicy;
}

/** Translates an `envoy.config.route.v3.RouteConfiguration` (RDS). */
export function translateRouteConfiguration(resource: unknown): RouteConfiguration {
  return routeConfigurationFrom(Field.resource(resource, 'RouteConfiguration', 'name'));
}

/** A RouteConfiguration at `field` (an RDS resource, or one inline in a listener); `name` when it has none. */
export function routeConfigurationFrom(field: Field, name?: string): RouteConfiguration {
  const virtualHosts = field.get('virtual_hosts').list().map(virtualHost);
  const seen = new Set<string>();
  virtualHosts.forEach((host, index) => {
    for (const domain of host.domains) {
      if (seen.has(domain)) field.get('virtual_hosts').list()[index].get('domains').fail(`duplicate domain ${domain}`);
      seen.add(domain);
    }
  });
  return { name: field.get('name').string() || name || '', virtualHosts };
}

function virtualHost(field: Field, index: number): VirtualHost {
  const name = field.get('name').string() || `virtual_hosts[${index}]`;
  const domainsField = field.get('domains');
  const domains = domainsField.list().map((domain) => domain.requireString().toLowerCase());
  if (domains.length === 0) domainsField.fail('at least one domain is required');
  const requireTls = field.get('require_tls').enumOf(['NONE', 'EXTERNAL_ONLY', 'ALL'], 'NONE');
  if (requireTls !== 'NONE') field.get('require_tls').fail('is not supported');
  const inherited: Inherited = {
    retry: field.get('retry_policy').isSet ? field.get('retry_policy') : undefined,
    fault: faultPolicy(field.get('typed_per_filter_config').entry(FAULT_FILTER)),
  };
  const routes = field
    .get('routes')
    .list()
    .map((route, i) => translateRoute(route, `${name}[${i}]`, inherited));
  return { name, domains, routes };
}

function translateRoute(field: Field, fallbackName: string, inherited: Inherited): Route {
  for (const other of ['redirect', 'direct_response', 'filter_action', 'non_forwarding_action']) {
    field.get(other).rejectIfSet('is not supported (only `route` actions are)');
  }
  const action = field.get('route');
  if (!action.isSet) action.fail('is required');
  for (const unsupported of [
    'cluster_header',
    'cluster_specifier_plugin',
    'inline_cluster_specifier_plugin',
    'path_rewrite_policy',
    'host_rewrite_header',
    'host_rewrite_path_regex',
    'request_mirror_policies',
  ]) {
    action.get(unsupported).rejectIfSet();
  }
  if (action.get('auto_host_rewrite').wrappedBool()) action.get('auto_host_rewrite').fail('is not supported');
  const timeoutMs = action.get('timeout').durationMs() ?? DEFAULT_ROUTE_TIMEOUT_MS;
  const retryField = action.get('retry_policy').isSet ? action.get('retry_policy') : inherited.retry;
  const fault = faultPolicy(field.get('typed_per_filter_config').entry(FAULT_FILTER)) ?? inherited.fault;
  const regexRewrite = action.get('regex_rewrite').isSet ? rewriteOf(action.get('regex_rewrite')) : undefined;
  return {
    name: field.get('name').string() || fallbackName,
    match: routeMatch(field.get('match')),
    clusters: routeClusters(action),
    prefixRewrite: action.get('prefix_rewrite').string() || undefined,
    ...(regexRewrite ? { regexRewrite } : {}),
    hostRewrite: action.get('host_rewrite_literal').string() || undefined,
    timeoutMs,
    ...(retryField ? { retry: retryPolicy(retryField, timeoutMs) } : {}),
    ...(fault ? { fault } : {}),
  };
}

function routeClusters(action: Field): WeightedCluster[] {
  const single = action.get('cluster').string();
  if (single) return [{ cluster: single, weight: 1 }];
  const weighted = action.get('weighted_clusters');
  if (!weighted.isSet) action.fail('one of cluster or weighted_clusters is required');
  const clusters = weighted
    .get('clusters')
    .list()
    .map((entry) => {
      entry.get('cluster_header').rejectIfSet();
      return { cluster: entry.get('name').requireString(), weight: entry.get('weight').wrappedUint() ?? 0 };
    })
    .filter((entry) => entry.weight > 0);
  if (clusters.length === 0) weighted.get('clusters').fail('the weights must sum to more than 0');
  return clusters;
}

function routeMatch(field: Field): RouteMatch {
  if (!field.isSet) field.fail('is required');
  for (const unsupported of [
    'path_separated_prefix',
    'connect_matcher',
    'path_match_policy',
    'runtime_fraction',
    'tls_context',
    'dynamic_metadata',
    'filter_state',
  ]) {
    field.get(unsupported).rejectIfSet();
  }
  const specifiers = ['prefix', 'path', 'safe_regex'].filter((name) => field.get(name).isSet);
  if (specifiers.length !== 1) field.fail('exactly one of prefix, path or safe_regex is required');
  const headers = field.get('headers').list().map(headerMatcher);
  if (field.get('grpc').isSet) {
    headers.push({ name: 'content-type', match: { prefix: 'application/grpc' } });
  }
  const caseSensitive = field.get('case_sensitive').wrappedBool() ?? true;
  const query = field.get('query_parameters').list().map(queryMatcher);
  const common = { caseSensitive, headers, ...(query.length > 0 ? { queryParameters: query } : {}) };
  switch (specifiers[0]) {
    case 'prefix':
      return { prefix: field.get('prefix').string()!, ...common };
    case 'path':
      return { path: field.get('path').string()!, ...common };
    default:
      return { regex: fullMatch(field.get('safe_regex')), ...common };
  }
}

function queryMatcher(field: Field): QueryParameterMatcher {
  const name = field.get('name').requireString();
  return field.get('string_match').isSet ? { name, match: stringMatcher(field.get('string_match')) } : { name };
}

function headerMatcher(field: Field): HeaderMatcher {
  const name = field.get('name').requireString().toLowerCase();
  let invert = field.get('invert_match').bool() ?? false;
  const treatMissingAsEmpty = field.get('treat_missing_header_as_empty').bool() ?? false;
  field.get('range_match').rejectIfSet();
  let match: StringMatcher | undefined;
  if (field.get('string_match').isSet) match = stringMatcher(field.get('string_match'));
  else if (field.get('exact_match').isSet) match = { exact: field.get('exact_match').string()! };
  else if (field.get('prefix_match').isSet) match = { prefix: field.get('prefix_match').string()! };
  else if (field.get('suffix_match').isSet) match = { regex: affixRegex('', field.get('suffix_match').string()!) };
  else if (field.get('contains_match').isSet)
    match = { regex: affixRegex('contains', field.get('contains_match').string()!) };
  else if (field.get('safe_regex_match').isSet) match = { regex: fullMatch(field.get('safe_regex_match')) };
  else if (field.get('present_match').bool() === false) invert = !invert; // must be absent
  return {
    name,
    ...(match ? { match } : {}),
    ...(invert ? { invert } : {}),
    ...(treatMissingAsEmpty ? { treatMissingAsEmpty } : {}),
  };
}

/** An `envoy.type.matcher.v3.StringMatcher`; suffix and contains become regexes. */
function stringMatcher(field: Field): StringMatcher {
  const ignoreCase = field.get('ignore_case').bool() ?? false;
  field.get('custom').rejectIfSet();
  const flags = ignoreCase ? { ignoreCase } : {};
  if (field.get('exact').isSet) return { exact: field.get('exact').string()!, ...flags };
  if (field.get('prefix').isSet) return { prefix: field.get('prefix').string()!, ...flags };
  if (field.get('suffix').isSet) return { regex: affixRegex('', field.get('suffix').string()!, ignoreCase) };
  if (field.get('contains').isSet)
    return { regex: affixRegex('contains', field.get('contains').string()!, ignoreCase) };
  if (field.get('safe_regex').isSet) return { regex: fullMatch(field.get('safe_regex')) };
  return field.fail('one of exact, prefix, suffix, contains or safe_regex is required');
}

/** An `envoy.type.matcher.v3.RegexMatcher` as an anchored RegExp (RE2 matches the whole value). */
function fullMatch(field: Field): RegExp {
  let source = field.get('regex').requireString();
  let flags = '';
  if (source.startsWith('(?i)')) {
    source = source.slice(4);
    flags = 'i';
  }
  try {
    return new RegExp(`^(?:${source})$`, flags);
  } catch (error) {
    return field.get('regex').fail(`invalid regular expression: ${(error as Error).message}`);
  }
}

function affixRegex(kind: '' | 'contains', text: string, ignoreCase = false): RegExp {
  const escaped = text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(kind === 'contains' ? escaped : `${escaped}$`, ignoreCase ? 'i' : '');
}

/** Envoy's `regex_rewrite` (RE2's `\1` references become `$1`). */
function rewriteOf(field: Field): { pattern: RegExp; substitution: string } {
  const regex = field.get('pattern').get('regex');
  let pattern: RegExp;
  try {
    pattern = new RegExp(regex.requireString(), 'g');
  } catch (error) {
    return regex.fail(`invalid regular expression: ${(error as Error).message}`);
  }
  const substitution = (field.get('substitution').string() ?? '').replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1');
  return { pattern, substitution };
}

function retryPolicy(field: Field, routeTimeoutMs: number): RetryPolicy {
  const retryOnField = field.get('retry_on');
  const retryOn = new Set<RetryOn>();
  for (const condition of (retryOnField.string() ?? '').split(',').map((c) => c.trim())) {
    if (!condition) continue;
    if (!RETRY_CONDITIONS.has(condition)) retryOnField.fail(`unknown retry condition "${condition}"`);
    retryOn.add(condition as RetryOn);
  }
  const codes = field
    .get('retriable_status_codes')
    .list()
    .map((code) => code.uint() ?? 0);
  const avoidPreviousHosts = field
    .get('retry_host_predicate')
    .list()
    .some(
      (predicate) =>
        predicate.get('name').string() === PREVIOUS_HOSTS ||
        (predicate.get('typed_config').isSet && predicate.get('typed_config').anyType() === PREVIOUS_HOSTS_TYPE),
    );
  return {
    numRetries: field.get('num_retries').wrappedUint() ?? 1,
    perTryTimeoutMs: field.get('per_try_timeout').durationMs() ?? routeTimeoutMs,
    retryOn,
    ...(codes.length > 0 ? { retriableStatusCodes: new Set(codes) } : {}),
    ...(avoidPreviousHosts ? { avoidPreviousHosts } : {}),
  };
}

/** The fault filter's per-route config (`HTTPFault`, possibly inside a `FilterConfig`). */
function faultPolicy(field: Field): FaultPolicy | undefined {
  if (!field.isSet) return undefined;
  let fault = field;
  if (field.requireType(HTTP_FAULT_TYPE, FILTER_CONFIG_TYPE) === FILTER_CONFIG_TYPE) {
    if (field.get('disabled').bool()) return undefined;
    fault = field.get('config');
    fault.requireType(HTTP_FAULT_TYPE);
  }
  for (const unsupported of ['headers', 'upstream_cluster', 'downstream_nodes', 'response_rate_limit']) {
    fault.get(unsupported).rejectIfSet();
  }
  const delay = fault.get('delay');
  const abort = fault.get('abort');
  const out: { delay?: FaultPolicy['delay']; abort?: FaultPolicy['abort'] } = {};
  if (delay.isSet) {
    delay.get('header_delay').rejectIfSet();
    const fixedDelayMs = delay.get('fixed_delay').durationMs() ?? delay.get('fixed_delay').fail('is required');
    out.delay = { fixedDelayMs, percent: percentage(delay.get('percentage')) };
  }
  if (abort.isSet) {
    abort.get('header_abort').rejectIfSet();
    const percent = percentage(abort.get('percentage'));
    const grpcStatus = abort.get('grpc_status').uint();
    if (grpcStatus !== undefined) {
      out.abort = { httpStatus: 200, grpcStatus, percent };
    } else {
      const httpStatus = abort.get('http_status').uint() ?? 0;
      if (httpStatus < 200 || httpStatus >= 600) abort.get('http_status').fail('must be an HTTP status in [200, 600)');
      out.abort = { httpStatus, percent };
    }
  }
  return out.delay || out.abort ? out : undefined;
}

/** An `envoy.type.v3.FractionalPercent` as a percentage in [0, 100] (unset: 0, as in Envoy). */
function percentage(field: Field): number {
  const numerator = field.get('numerator').uint() ?? 0;
  const denominator = DENOMINATORS[field.get('denominator').enumOf(['HUNDRED', 'TEN_THOUSAND', 'MILLION'], 'HUNDRED')];
  return Math.min(100, (numerator / denominator) * 100);
}
