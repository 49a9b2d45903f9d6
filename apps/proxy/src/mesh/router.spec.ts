import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMPTY_MESH_CONFIG, type MeshConfig, type Route, type RouteMatch, type VirtualHost } from './model';
import { pickWeighted, resolveOutbound, rewritePath, selectRoute } from './router';

const REVIEWS = 'reviews.default.svc.cluster.local';
const RATINGS = 'ratings.prod.svc.cluster.local';

const route = (name: string, match: Partial<RouteMatch>, extra: Partial<Route> = {}): Route => ({
  name,
  match: { caseSensitive: true, headers: [], ...match },
  clusters: [{ cluster: name, weight: 1 }],
  timeoutMs: 0,
  ...extra,
});
const host = (name: string, domains: string[], routes: Route[] = [route(name, { prefix: '/' })]): VirtualHost => ({
  name,
  domains,
  routes,
});

/** Listeners `host:port` each with a route configuration of the given virtual hosts. */
function meshConfig(services: Record<string, VirtualHost[]>): MeshConfig {
  const listeners = new Map();
  const routes = new Map();
  for (const [name, virtualHosts] of Object.entries(services)) {
    const colon = name.lastIndexOf(':');
    listeners.set(name, {
      name,
      host: name.slice(0, colon),
      port: Number(name.slice(colon + 1)),
      routeConfigName: name,
    });
    routes.set(name, { name, virtualHosts });
  }
  return { ...EMPTY_MESH_CONFIG, listeners, routes };
}

const CONFIG = meshConfig({
  [`${REVIEWS}:9080`]: [host('reviews-9080', [`${REVIEWS}:9080`, REVIEWS])],
  [`${REVIEWS}:9443`]: [host('reviews-9443', [`${REVIEWS}:9443`])],
  [`${RATINGS}:8080`]: [host('ratings', [`${RATINGS}:8080`])],
  ['api.example.com:443']: [host('wild', ['*.example.com']), host('any', ['*'])],
});

describe('resolveOutbound', () => {
  const resolved = (authority: string, defaultPort?: number, namespace = 'default') =>
    resolveOutbound(CONFIG, authority, defaultPort, namespace)?.virtualHost.name;

  it('resolves every short form of a service name relative to the namespace', () => {
    for (const authority of ['reviews', 'reviews.default', 'reviews.default.svc', REVIEWS, `${REVIEWS}.`, 'REVIEWS']) {
      assert.equal(resolved(`${authority}:9080`), 'reviews-9080', authority);
    }
    assert.equal(resolved('ratings:8080'), undefined, 'ratings is in another namespace');
    assert.equal(resolved('ratings:8080', undefined, 'prod'), 'ratings');
    assert.equal(resolved('ratings.prod:8080'), 'ratings');
    assert.equal(resolved('reviews:1234'), undefined, 'no such port');
    assert.equal(resolved('unknown:9080'), undefined);
  });

  it("picks the port: the authority's, else the default port, else the service's only one", () => {
    assert.equal(resolved('reviews:9443'), 'reviews-9443');
    assert.equal(resolved('reviews', 9443), 'reviews-9443');
    assert.equal(resolved('reviews'), undefined, 'two ports and no default');
    assert.equal(resolved('ratings.prod'), 'ratings', 'one port');
    assert.equal(resolved('ratings.prod', 80), 'ratings', 'a default port it does not have');
  });

  it("chooses the virtual host by Envoy's domain order and caches the answer per config", () => {
    assert.equal(resolved('api.example.com:443'), 'wild');
    const target = resolveOutbound(CONFIG, 'api.example.com:443');
    assert.equal(resolveOutbound(CONFIG, 'api.example.com:443'), target, 'cached');
    assert.equal(resolveOutbound(EMPTY_MESH_CONFIG, 'reviews:9080'), undefined);
    const noRoutes = { ...CONFIG, routes: new Map() };
    assert.equal(resolveOutbound(noRoutes, 'reviews:9080'), undefined, 'routes not arrived yet');
  });

  it('parses IPv6 authorities', () => {
    const v6 = meshConfig({ ['fd00::1:80']: [host('v6', ['*'])] });
    assert.equal(resolveOutbound(v6, '[fd00::1]:80')?.virtualHost.name, 'v6');
    assert.equal(resolveOutbound(v6, '[fd00::1]', 80)?.virtualHost.name, 'v6');
  });
});

describe('selectRoute', () => {
  const routes = [
    route('exact', { path: '/exact' }),
    route('insensitive', { prefix: '/CaSe', caseSensitive: false }),
    route('regex', { regex: /^(?:\/items\/\d+)$/ }),
    route('header', { prefix: '/h', headers: [{ name: 'x-version', match: { exact: 'v2' } }] }),
    route('absent', { prefix: '/h', headers: [{ name: 'x-debug', invert: true }] }),
    route('not-v1', {
      prefix: '/n',
      headers: [{ name: 'x-version', match: { exact: 'v1' }, invert: true, treatMissingAsEmpty: true }],
    }),
    route('method', { prefix: '/m', headers: [{ name: ':method', match: { exact: 'POST' } }] }),
    route('query', { prefix: '/q', queryParameters: [{ name: 'v', match: { prefix: '2' } }, { name: 'debug' }] }),
    route('fallback', { prefix: '/' }),
  ];
  const vh = host('vh', ['*'], routes);
  const select = (path: string, headers: Record<string, string | string[]> = {}, method = 'GET') =>
    selectRoute(vh, { method, path, headers })?.name;

  it('takes the first route that matches, in order', () => {
    assert.equal(select('/exact'), 'exact');
    assert.equal(select('/exact?x=1'), 'exact', 'the query is not part of the path');
    assert.equal(select('/exact/more'), 'fallback');
    assert.equal(select('/case/x'), 'insensitive');
    assert.equal(select('/items/42'), 'regex');
    assert.equal(select('/items/42/x'), 'fallback', 'regexes match the whole path');
  });

  it('matches headers: value, absence, inversion with missing as empty, pseudo headers', () => {
    assert.equal(select('/h', { 'x-version': 'v2' }), 'header');
    assert.equal(select('/h', { 'x-version': ['v2', 'v3'] }), 'absent', 'repeated values are joined');
    assert.equal(select('/h'), 'absent');
    assert.equal(select('/h', { 'x-debug': '1' }), 'fallback');
    assert.equal(select('/n'), 'not-v1', 'missing counts as empty, which is not v1');
    assert.equal(select('/n', { 'x-version': 'v1' }), 'fallback');
    assert.equal(select('/m', {}, 'POST'), 'method');
    assert.equal(select('/m'), 'fallback');
  });

  it('matches query parameters (decoded, first value)', () => {
    assert.equal(select('/q?v=2.1&debug'), 'query');
    assert.equal(select('/q?debug=&v=%32'), 'query');
    assert.equal(select('/q?v=1&debug'), 'fallback');
    assert.equal(select('/q?v=2'), 'fallback');
    assert.equal(select('/q'), 'fallback');
  });

  it('returns undefined when nothing matches', () => {
    assert.equal(
      selectRoute(host('none', ['*'], [route('only', { path: '/a' })]), { method: 'GET', path: '/b', headers: {} }),
      undefined,
    );
  });
});

describe('pickWeighted', () => {
  it('picks in proportion to the weights', () => {
    const clusters = [
      { cluster: 'v1', weight: 75 },
      { cluster: 'v2', weight: 25 },
    ];
    assert.equal(
      pickWeighted(clusters, () => 0),
      'v1',
    );
    assert.equal(
      pickWeighted(clusters, () => 0.7499),
      'v1',
    );
    assert.equal(
      pickWeighted(clusters, () => 0.75),
      'v2',
    );
    assert.equal(
      pickWeighted(clusters, () => 0.9999),
      'v2',
    );
    const counts = { v1: 0, v2: 0 } as Record<string, number>;
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    for (let i = 0; i < 10_000; i++) counts[pickWeighted(clusters, random)]++;
    assert.ok(Math.abs(counts.v1 - 7_500) < 300, JSON.stringify(counts));
    assert.equal(
      pickWeighted([{ cluster: 'only', weight: 1 }], () => 0.5),
      'only',
    );
  });
});

describe('rewritePath', () => {
  it('replaces the matched prefix, the whole path of an exact match, or regex matches, keeping the query', () => {
    assert.equal(
      rewritePath(route('p', { prefix: '/api/' }, { prefixRewrite: '/' }), '/api/users?id=1'),
      '/users?id=1',
    );
    assert.equal(
      rewritePath(route('p', { prefix: '/API', caseSensitive: false }, { prefixRewrite: '/v2' }), '/api/x'),
      '/v2/x',
    );
    assert.equal(rewritePath(route('e', { path: '/old' }, { prefixRewrite: '/new' }), '/old?x'), '/new?x');
    const regexRewrite = { pattern: /^\/service\/([^/]+)(\/.*)$/g, substitution: '$2/instance/$1' };
    assert.equal(
      rewritePath(route('r', { prefix: '/' }, { regexRewrite }), '/service/foo/v1/api?q'),
      '/v1/api/instance/foo?q',
    );
    assert.equal(rewritePath(route('none', { prefix: '/' }), '/same?x'), '/same?x');
  });
});
