import { toDuration, toFractionalPercent } from './durations';
import { type Pack, SIDECAR_TYPE_URLS } from './types';

/*
 * What a sidecar's routes carry beyond a proxyless client's, translated as Istio's Pilot does
 * (pilot/pkg/networking/core/route): the full match (method, authority, scheme, query
 * parameters, withoutHeaders), timeout, retry policy, rewrites and fault injection.
 */

type Message = Record<string, unknown>;

/** Istio's StringMatch (one of exact, prefix, regex; none means "present"). */
export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

/** The parts of an Istio HTTPMatchRequest a sidecar route matches on besides the path. */
export interface SidecarMatchFields {
  headers?: Record<string, StringMatch>;
  withoutHeaders?: Record<string, StringMatch>;
  method?: StringMatch;
  authority?: StringMatch;
  scheme?: StringMatch;
  queryParams?: Record<string, StringMatch>;
  ignoreUriCase?: boolean;
}

/** Istio's HTTPRetry. */
export interface HttpRetry {
  attempts?: number;
  perTryTimeout?: string;
  retryOn?: string;
  retryIgnorePreviousHosts?: boolean;
}

/** Istio's HTTPFaultInjection. */
export interface HttpFault {
  delay?: { fixedDelay?: string; percentage?: { value?: number }; percent?: number };
  abort?: { httpStatus?: number; grpcStatus?: string; percentage?: { value?: number } };
}

/** The parts of an Istio HTTPRoute a sidecar route translates besides its match and destinations. */
export interface SidecarRouteFields {
  timeout?: string;
  retries?: HttpRetry;
  fault?: HttpFault;
  rewrite?: { uri?: string; authority?: string; uriRegexRewrite?: { match?: string; rewrite?: string } };
}

/** The name Envoy's fault filter is configured under (HCM filter and per-route config). */
export const FAULT_FILTER = 'envoy.filters.http.fault';

/** Istio's default retry_on when a route sets no `retries` (plus retriable status code 503). */
export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

/** Envoy's `timeout: 0`: no route timeout (Istio's default when a route sets none). */
const NO_TIMEOUT = { seconds: 0 };

/**
 * The RouteMatch fields besides the path, as Istio writes them: header matchers (headers and
 * withoutHeaders sorted by name, then `:method`, `:authority`, `:scheme`), query parameter
 * matchers, and case sensitivity.
 */
export function sidecarMatchFields(match: SidecarMatchFields | undefined): Message {
  const headers = [
    ...Object.entries(match?.headers ?? {}).map(([name, value]) => headerMatcher(name, value)),
    ...Object.entries(match?.withoutHeaders ?? {}).map(([name, value]) => invertedHeaderMatcher(name, value)),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const pseudo: [string, StringMatch | undefined][] = [
    [':method', match?.method],
    [':authority', match?.authority],
    [':scheme', match?.scheme],
  ];
  for (const [name, value] of pseudo) if (value) headers.push(headerMatcher(name, value));
  const query = Object.entries(match?.queryParams ?? {}).map(([name, value]) => ({ name, ...specifier(value) }));
  const out: Message = { case_sensitive: { value: !match?.ignoreUriCase } };
  if (headers.length > 0) out.headers = headers;
  if (query.length > 0) out.query_parameters = query;
  return out;
}

/**
 * The RouteAction fields of a sidecar route: timeout (none: 0, disabled), retry policy (none:
 * Istio's default; `attempts: 0`: no retries), and rewrites.
 */
export function sidecarActionFields(route: SidecarRouteFields | undefined, pack: Pack): Message {
  const out: Message = { timeout: toDuration(route?.timeout) ?? NO_TIMEOUT };
  const retry = retryPolicy(route?.retries, pack);
  if (retry) out.retry_policy = retry;
  const rewrite = route?.rewrite;
  if (rewrite?.uriRegexRewrite?.match !== undefined) {
    out.regex_rewrite = {
      pattern: { regex: rewrite.uriRegexRewrite.match },
      substitution: rewrite.uriRegexRewrite.rewrite ?? '',
    };
  } else if (rewrite?.uri) {
    out.prefix_rewrite = rewrite.uri;
  }
  if (rewrite?.authority) out.host_rewrite_literal = rewrite.authority;
  return out;
}

/** A route's `typed_per_filter_config` for its fault injection, if it has one. */
export function faultPerFilterConfig(fault: HttpFault | undefined, pack: Pack): Message | undefined {
  if (!fault) return undefined;
  const config: Message = {};
  const fixedDelay = toDuration(fault.delay?.fixedDelay);
  if (fault.delay && fixedDelay) {
    config.delay = { fixed_delay: fixedDelay, ...percentage(fault.delay.percentage?.value ?? fault.delay.percent) };
  }
  const abort = fault.abort ? abortOf(fault.abort) : undefined;
  if (abort) config.abort = { ...abort, ...percentage(fault.abort?.percentage?.value) };
  if (!config.delay && !config.abort) return undefined;
  return { [FAULT_FILTER]: pack(SIDECAR_TYPE_URLS.FAULT, config) };
}

/**
 * Istio's retry policy: unset → 2 attempts on connect-failure, refused-stream, unavailable,
 * cancelled and 503, preferring other hosts; `attempts <= 0` → none; otherwise the default with
 * the route's attempts, perTryTimeout and retryOn (status codes in it become retriable_status_codes).
 */
export function retryPolicy(retries: HttpRetry | undefined, pack: Pack): Message | undefined {
  const policy: Message = {
    retry_on: DEFAULT_RETRY_ON,
    num_retries: { value: 2 },
    retry_host_predicate: [
      { name: 'envoy.retry_host_predicates.previous_hosts', typed_config: pack(SIDECAR_TYPE_URLS.PREVIOUS_HOSTS, {}) },
    ],
    host_selection_retry_max_attempts: 5,
    retriable_status_codes: [503],
  };
  if (!retries) return policy;
  if (!(typeof retries.attempts === 'number' && retries.attempts > 0)) return undefined;
  policy.num_retries = { value: retries.attempts };
  if (retries.retryOn) {
    const { conditions, codes } = parseRetryOn(retries.retryOn);
    if (codes.length > 0 && !conditions.includes('retriable-status-codes')) conditions.push('retriable-status-codes');
    policy.retry_on = conditions.join(',');
    if (codes.length > 0) policy.retriable_status_codes = codes;
    else delete policy.retriable_status_codes;
  }
  const perTry = toDuration(retries.perTryTimeout);
  if (perTry) policy.per_try_timeout = perTry;
  if (retries.retryIgnorePreviousHosts === false) delete policy.retry_host_predicate;
  return policy;
}

/** Splits Istio's retryOn into Envoy conditions and HTTP status codes. */
function parseRetryOn(retryOn: string): { conditions: string[]; codes: number[] } {
  const conditions: string[] = [];
  const codes: number[] = [];
  for (const part of retryOn.split(',').map((p) => p.trim())) {
    if (!part) continue;
    if (/^\d{3}$/.test(part) && Number(part) >= 100 && Number(part) < 600) codes.push(Number(part));
    else conditions.push(part);
  }
  return { conditions, codes };
}

function headerMatcher(name: string, value: StringMatch): Message & { name: string } {
  return { name, ...specifier(value) };
}

/** A withoutHeaders matcher: inverted, and a missing header counts as empty unless it is a presence match. */
function invertedHeaderMatcher(name: string, value: StringMatch): Message & { name: string } {
  const matcher = headerMatcher(name, value);
  return matcher.present_match
    ? { ...matcher, invert_match: true }
    : { ...matcher, invert_match: true, treat_missing_header_as_empty: true };
}

/** Istio's StringMatch as a header or query matcher: none (or regex `*`) is a presence match. */
function specifier(value: StringMatch): Message {
  if (value.exact !== undefined) return { string_match: { exact: value.exact } };
  if (value.prefix !== undefined) return { string_match: { prefix: value.prefix } };
  if (value.regex !== undefined && value.regex !== '*') return { string_match: { safe_regex: { regex: value.regex } } };
  return { present_match: true };
}

function percentage(value: number | undefined): Message {
  return typeof value === 'number' ? { percentage: toFractionalPercent(value) } : {};
}

function abortOf(abort: NonNullable<HttpFault['abort']>): Message | undefined {
  if (typeof abort.httpStatus === 'number') return { http_status: abort.httpStatus };
  const code = abort.grpcStatus === undefined ? undefined : GRPC_STATUS_CODES[abort.grpcStatus.toUpperCase()];
  return code === undefined ? undefined : { grpc_status: code };
}

/** gRPC status names (Istio's `grpcStatus`) and their codes. */
const GRPC_STATUS_CODES: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};
