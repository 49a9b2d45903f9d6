import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MeshConfigError } from './errors';
import { translateRouteConfiguration } from './translate-route';

const FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

/** A route configuration with one virtual host holding `routes` (proto-loader form). */
const config = (routes: unknown[], host: Record<string, unknown> = {}) => ({
  name: 'reviews.default.svc.cluster.local:9080',
  virtual_hosts: [{ name: 'reviews', domains: ['Reviews.default.svc.cluster.local:9080'], routes, ...host }],
});
const route = (fields: Record<string, unknown>) => ({
  name: 'r',
  match: { prefix: '/' },
  route: { cluster: 'outbound|9080||reviews' },
  ...fields,
});
const only = (fields: Record<string, unknown>, host?: Record<string, unknown>) =>
  translateRouteConfiguration(config([route(fields)], host)).virtualHosts[0].routes[0];
const rejects = (resource: unknown, message: RegExp) =>
  assert.throws(
    () => translateRouteConfiguration(resource),
    (error: unknown) => {
      assert.ok(error instanceof MeshConfigError, String(error));
      assert.match(error.message, message);
      return true;
    },
  );

describe('translateRouteConfiguration', () => {
  it("applies Envoy's defaults: case-sensitive match, one cluster, 15 s timeout, no retries or faults", () => {
    const translated = translateRouteConfiguration(config([{ match: { prefix: '/' }, route: { cluster: 'c' } }]));
    assert.equal(translated.name, 'reviews.default.svc.cluster.local:9080');
    const [host] = translated.virtualHosts;
    assert.deepEqual(host.domains, ['reviews.default.svc.cluster.local:9080'], 'domains are lower-cased');
    assert.deepEqual(host.routes[0], {
      name: 'reviews[0]',
      match: { prefix: '/', caseSensitive: true, headers: [] },
      clusters: [{ cluster: 'c', weight: 1 }],
      prefixRewrite: undefined,
      hostRewrite: undefined,
      timeoutMs: 15_000,
    });
  });

  it('translates path, prefix and anchored regex matches, case sensitivity and gRPC', () => {
    assert.deepEqual(only({ match: { path: '/exact', case_sensitive: { value: false } } }).match, {
      path: '/exact',
      caseSensitive: false,
      headers: [],
    });
    const regex = only({ match: { safe_regex: { regex: '/api/v[0-9]+' } } }).match.regex!;
    assert.ok(regex.test('/api/v12'));
    assert.ok(!regex.test('/x/api/v1'), 'RE2 matches the whole path');
    assert.ok(!regex.test('/api/v1/more'));
    assert.ok(only({ match: { safe_regex: { regex: '(?i)/API' } } }).match.regex!.test('/api'));
    assert.deepEqual(only({ match: { prefix: '/', grpc: {} } }).match.headers, [
      { name: 'content-type', match: { prefix: 'application/grpc' } },
    ]);
  });

  it('translates header matchers: string_match kinds, presence, absence, inversion, missing as empty', () => {
    const headers = only({
      match: {
        prefix: '/',
        headers: [
          { name: 'X-Exact', string_match: { exact: 'a', ignore_case: true } },
          { name: 'x-prefix', string_match: { prefix: 'b' } },
          { name: 'x-regex', string_match: { safe_regex: { regex: 'c+' } } },
          { name: 'x-suffix', string_match: { suffix: '.d' } },
          { name: 'x-contains', string_match: { contains: 'e' } },
          { name: 'x-present', present_match: true },
          { name: 'x-absent', present_match: false },
          { name: 'x-not', string_match: { exact: 'f' }, invert_match: true, treat_missing_header_as_empty: true },
          { name: ':method', exact_match: 'GET' },
        ],
      },
    }).match.headers;
    const [exact, prefix, regex, suffix, contains, present, absent, not, method] = headers;
    assert.deepEqual(exact, { name: 'x-exact', match: { exact: 'a', ignoreCase: true } });
    assert.deepEqual(prefix, { name: 'x-prefix', match: { prefix: 'b' } });
    assert.ok('regex' in regex.match! && regex.match.regex.test('ccc') && !regex.match.regex.test('ccd'));
    assert.ok('regex' in suffix.match! && suffix.match.regex.test('a.d') && !suffix.match.regex.test('axd'));
    assert.ok('regex' in contains.match! && contains.match.regex.test('xex'));
    assert.deepEqual(present, { name: 'x-present' });
    assert.deepEqual(absent, { name: 'x-absent', invert: true });
    assert.deepEqual(not, { name: 'x-not', match: { exact: 'f' }, invert: true, treatMissingAsEmpty: true });
    assert.deepEqual(method, { name: ':method', match: { exact: 'GET' } });
  });

  it('translates query parameter matchers (string and presence)', () => {
    const match = only({
      match: {
        prefix: '/',
        query_parameters: [
          { name: 'v', string_match: { exact: '2' } },
          { name: 'debug', present_match: true },
        ],
      },
    }).match;
    assert.deepEqual(match.queryParameters, [{ name: 'v', match: { exact: '2' } }, { name: 'debug' }]);
  });

  it('translates weighted clusters (zero weights dropped), rewrites and the timeout', () => {
    const translated = only({
      route: {
        weighted_clusters: {
          clusters: [
            { name: 'v1', weight: { value: 75 } },
            { name: 'v2', weight: { value: 25 } },
            { name: 'v3', weight: {} },
          ],
        },
        prefix_rewrite: '/v2/api',
        host_rewrite_literal: 'reviews-v2',
        timeout: { seconds: '3', nanos: 500_000_000 },
      },
    });
    assert.deepEqual(translated.clusters, [
      { cluster: 'v1', weight: 75 },
      { cluster: 'v2', weight: 25 },
    ]);
    assert.equal(translated.prefixRewrite, '/v2/api');
    assert.equal(translated.hostRewrite, 'reviews-v2');
    assert.equal(translated.timeoutMs, 3_500);
    assert.equal(only({ route: { cluster: 'c', timeout: { seconds: '0' } } }).timeoutMs, 0, '0 disables it');
    const rewrite = only({
      route: {
        cluster: 'c',
        regex_rewrite: { pattern: { regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' },
      },
    }).regexRewrite!;
    assert.equal('/service/foo/v1/api'.replace(rewrite.pattern, rewrite.substitution), '/v1/api/instance/foo');
  });

  it('translates the retry policy: conditions, retries, per-try timeout (default: the route timeout), codes, hosts', () => {
    const retry = only({
      route: {
        cluster: 'c',
        timeout: { seconds: '4' },
        retry_policy: {
          retry_on: 'connect-failure, refused-stream,unavailable,retriable-status-codes',
          num_retries: { value: 3 },
          retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }],
          retriable_status_codes: [503, 502],
        },
      },
    }).retry!;
    assert.deepEqual(
      [...retry.retryOn],
      ['connect-failure', 'refused-stream', 'unavailable', 'retriable-status-codes'],
    );
    assert.equal(retry.numRetries, 3);
    assert.equal(retry.perTryTimeoutMs, 4_000);
    assert.deepEqual([...retry.retriableStatusCodes!], [503, 502]);
    assert.equal(retry.avoidPreviousHosts, true);
    const defaults = only({
      route: { cluster: 'c', retry_policy: { retry_on: '5xx', per_try_timeout: { nanos: 250_000_000 } } },
    }).retry!;
    assert.equal(defaults.numRetries, 1, "Envoy's default");
    assert.equal(defaults.perTryTimeoutMs, 250);
  });

  it('translates fault injection (per route, or inherited from the virtual host) with every denominator', () => {
    const fault = only({
      typed_per_filter_config: {
        'envoy.filters.http.fault': {
          '@type': FAULT,
          delay: { fixed_delay: { seconds: '2' }, percentage: { numerator: 100_000, denominator: 'MILLION' } },
          abort: { http_status: 503, percentage: { numerator: 150, denominator: 'TEN_THOUSAND' } },
        },
      },
    }).fault!;
    assert.deepEqual(fault, {
      delay: { fixedDelayMs: 2_000, percent: 10 },
      abort: { httpStatus: 503, percent: 1.5 },
    });
    const inherited = only(
      {},
      {
        typed_per_filter_config: {
          'envoy.filters.http.fault': { '@type': FAULT, abort: { grpc_status: 14, percentage: { numerator: 50 } } },
        },
      },
    ).fault!;
    assert.deepEqual(inherited, { abort: { httpStatus: 200, grpcStatus: 14, percent: 50 } });
  });

  it("reads Envoy's JSON form too: durations as strings, wrappers as plain values", () => {
    const translated = only({
      match: { prefix: '/', case_sensitive: false },
      route: {
        weighted_clusters: { clusters: [{ name: 'a', weight: 3 }] },
        timeout: '1.5s',
        retry_policy: { retry_on: '5xx', num_retries: 2, per_try_timeout: '0.250s' },
      },
    });
    assert.equal(translated.match.caseSensitive, false);
    assert.deepEqual(translated.clusters, [{ cluster: 'a', weight: 3 }]);
    assert.equal(translated.timeoutMs, 1_500);
    assert.equal(translated.retry!.numRetries, 2);
    assert.equal(translated.retry!.perTryTimeoutMs, 250);
  });

  it('rejects what it cannot honour, naming the resource and the field path', () => {
    const at = (fields: Record<string, unknown>) => config([route({}), route(fields)]);
    const prefix = /^RouteConfiguration "reviews\.default\.svc\.cluster\.local:9080" virtual_hosts\[0\]\.routes\[1\]\./;
    rejects(at({ redirect: { path_redirect: '/x' } }), new RegExp(prefix.source + 'redirect: is not supported'));
    rejects(at({ route: undefined }), new RegExp(prefix.source + 'route: is required'));
    rejects(
      at({ match: { safe_regex: { regex: '(' } } }),
      new RegExp(prefix.source + 'match\\.safe_regex\\.regex: invalid regular expression'),
    );
    rejects(
      at({ route: { cluster: 'c', retry_policy: { retry_on: '5xx,sometimes' } } }),
      new RegExp(prefix.source + 'route\\.retry_policy\\.retry_on: unknown retry condition "sometimes"'),
    );
    rejects(
      at({ route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 0 } }] } } }),
      /weighted_clusters\.clusters: the weights must sum to more than 0/,
    );
    rejects(at({ match: { prefix: '/', path: '/x' } }), /match: exactly one of prefix, path or safe_regex/);
    rejects(at({ route: { cluster_header: 'x-cluster' } }), /route\.cluster_header: is not supported/);
    rejects(
      at({ typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': 'type.googleapis.com/x.Y' } } }),
      /typed_per_filter_config\["envoy\.filters\.http\.fault"\]: unsupported type x\.Y/,
    );
    rejects(
      at({ match: { prefix: '/', headers: [{ name: 'x', range_match: { start: '1', end: '2' } }] } }),
      /match\.headers\[0\]\.range_match: is not supported/,
    );
    rejects(
      {
        name: 'r',
        virtual_hosts: [
          { name: 'a', domains: ['x'] },
          { name: 'b', domains: ['X'] },
        ],
      },
      /virtual_hosts\[1\]\.domains: duplicate domain x/,
    );
    rejects({ virtual_hosts: [] }, /^RouteConfiguration "\(unnamed\)" name: is required/);
  });
});
