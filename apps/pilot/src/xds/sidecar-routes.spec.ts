import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toDuration, toFractionalPercent } from './durations';
import { EnvoyCodec } from './envoy-codec';
import {
  DEFAULT_RETRY_ON,
  FAULT_FILTER,
  faultPerFilterConfig,
  retryPolicy,
  sidecarActionFields,
  sidecarMatchFields,
} from './sidecar-routes';
import { type AnyMessage, SIDECAR_TYPE_URLS } from './types';

const codec = new EnvoyCodec();
const pack = (typeUrl: string, message: Record<string, unknown>) => codec.pack(typeUrl, message);

describe('toDuration', () => {
  it('reads Istio durations as protobuf Durations, and nothing else', () => {
    assert.deepEqual(toDuration('10s'), { seconds: 10 });
    assert.deepEqual(toDuration('0.5s'), { seconds: 0, nanos: 500_000_000 });
    assert.deepEqual(toDuration('1m30s'), { seconds: 90 });
    assert.deepEqual(toDuration('1h'), { seconds: 3600 });
    assert.deepEqual(toDuration('250ms'), { seconds: 0, nanos: 250_000_000 });
    assert.equal(toDuration(undefined), undefined);
    assert.equal(toDuration('soon'), undefined);
    assert.deepEqual(toFractionalPercent(12.5), { numerator: 125_000, denominator: 'MILLION' });
  });
});

describe('sidecar routes', () => {
  it('matches method, authority, scheme, query parameters and withoutHeaders as Istio does', () => {
    assert.deepEqual(
      sidecarMatchFields({
        headers: { 'x-b': { prefix: 'p' }, 'x-a': {} },
        withoutHeaders: { 'x-c': { exact: 'no' } },
        method: { exact: 'GET' },
        authority: { regex: 'echo.*' },
        scheme: { exact: 'https' },
        queryParams: { debug: { exact: '1' }, any: { regex: '*' } },
        ignoreUriCase: true,
      }),
      {
        case_sensitive: { value: false },
        headers: [
          { name: 'x-a', present_match: true },
          { name: 'x-b', string_match: { prefix: 'p' } },
          { name: 'x-c', string_match: { exact: 'no' }, invert_match: true, treat_missing_header_as_empty: true },
          { name: ':method', string_match: { exact: 'GET' } },
          { name: ':authority', string_match: { safe_regex: { regex: 'echo.*' } } },
          { name: ':scheme', string_match: { exact: 'https' } },
        ],
        query_parameters: [
          { name: 'debug', string_match: { exact: '1' } },
          { name: 'any', present_match: true },
        ],
      },
    );
    assert.deepEqual(sidecarMatchFields(undefined), { case_sensitive: { value: true } });
  });

  it('sets no timeout as 0 (disabled), and rewrites the path prefix and authority', () => {
    assert.deepEqual(sidecarActionFields({ retries: { attempts: 0 } }, pack), { timeout: { seconds: 0 } });
    assert.deepEqual(
      sidecarActionFields({ timeout: '1.5s', retries: { attempts: 0 }, rewrite: { uri: '/v2', authority: 'b' } }, pack),
      {
        timeout: { seconds: 1, nanos: 500_000_000 },
        prefix_rewrite: '/v2',
        host_rewrite_literal: 'b',
      },
    );
  });

  it("uses Istio's default retry policy without retries, none for attempts 0, and the route's otherwise", () => {
    const fallback = retryPolicy(undefined, pack)!;
    assert.equal(fallback.retry_on, DEFAULT_RETRY_ON);
    assert.deepEqual(fallback.num_retries, { value: 2 });
    assert.deepEqual(fallback.retriable_status_codes, [503]);
    assert.equal(fallback.host_selection_retry_max_attempts, 5);
    assert.equal(retryPolicy({ attempts: 0, retryOn: '5xx' }, pack), undefined);
    assert.equal(retryPolicy({ perTryTimeout: '1s' }, pack), undefined, 'attempts unset is 0 as in Istio');

    const custom = retryPolicy({ attempts: 4, perTryTimeout: '2s', retryOn: 'gateway-error,reset,429' }, pack)!;
    assert.deepEqual(custom.num_retries, { value: 4 });
    assert.deepEqual(custom.per_try_timeout, { seconds: 2 });
    assert.equal(custom.retry_on, 'gateway-error,reset,retriable-status-codes');
    assert.deepEqual(custom.retriable_status_codes, [429]);
    const noCodes = retryPolicy({ attempts: 1, retryOn: '5xx', retryIgnorePreviousHosts: false }, pack)!;
    assert.equal(noCodes.retry_on, '5xx');
    assert.equal(noCodes.retriable_status_codes, undefined);
    assert.equal(noCodes.retry_host_predicate, undefined);
  });

  it('configures the fault filter per route: fixed delay and HTTP or gRPC abort, percentages per million', () => {
    assert.equal(faultPerFilterConfig(undefined, pack), undefined);
    const config = faultPerFilterConfig(
      {
        delay: { fixedDelay: '5s', percentage: { value: 10 } },
        abort: { httpStatus: 503, percentage: { value: 0.5 } },
      },
      pack,
    )!;
    const any = config[FAULT_FILTER] as AnyMessage;
    assert.equal(any.type_url, SIDECAR_TYPE_URLS.FAULT);
    assert.deepEqual(codec.unpack(any), {
      delay: { fixed_delay: { seconds: '5' }, percentage: { numerator: 100_000, denominator: 'MILLION' } },
      abort: { http_status: 503, percentage: { numerator: 5_000, denominator: 'MILLION' } },
    });
    const grpc = faultPerFilterConfig({ abort: { grpcStatus: 'UNAVAILABLE' } }, pack)!;
    assert.deepEqual(codec.unpack(grpc[FAULT_FILTER] as AnyMessage), { abort: { grpc_status: 14 } });
  });
});
