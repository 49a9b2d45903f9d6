import { type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { TestMeshCa } from '../testing/test-pki';
import type { IdentitySnapshot, IdentitySource } from '../identity/types';
import { EMPTY_MESH_CONFIG, type MeshConfig, type MeshConfigSource } from '../mesh/model';
import { IstioMetrics } from '../telemetry/istio-metrics';
import type { RequestRecord } from '../telemetry/types';
import { adminTokenDigest, bearerMatches } from './admin-token.guard';
import { subjectAltNames } from './certs';
import { CONFIG_DUMP_TYPES, REDACTED } from './config-dump';
import { ProxyAdminModule, type ProxyAdminOptions } from './proxy-admin.module';

const TOKEN = 'proxy-admin-spec-token';
const SPIFFE_ID = 'spiffe://cluster.local/ns/shop/sa/reviews';

class FakeIdentity implements IdentitySource {
  snapshot: IdentitySnapshot | undefined;
  current = () => this.snapshot;
  onChange = () => () => undefined;
  isRevoked = () => false;
  onRevocation = () => () => undefined;
  trustDomain = () => (this.snapshot ? 'cluster.local' : undefined);
}

class FakeMesh implements MeshConfigSource {
  config: MeshConfig | undefined;
  state: ReturnType<MeshConfigSource['status']> = {
    source: 'pilot',
    connected: false,
    lastError: 'connect ECONNREFUSED 127.0.0.1:15010',
  };
  current = () => this.config;
  onChange = () => () => undefined;
  status = () => this.state;
}

/** A real root → intermediate → leaf chain for SPIFFE_ID, as Citadel would issue it. */
function issueIdentity(): IdentitySnapshot & { leafSerial: string; rootSerial: string } {
  const ca = new TestMeshCa();
  const root = ca.root;
  const { issued: leaf, privateKey } = ca.issueFor(SPIFFE_ID, 86_400 * 2);
  const rootSerial = new X509Certificate(root.certPem).serialNumber.toLowerCase();
  return {
    certificate: {
      spiffeId: SPIFFE_ID,
      chainPem: [leaf.certPem, ...leaf.chainPem.slice(0, 1)].join(''),
      keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      serial: leaf.serialHex.toLowerCase(),
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      fingerprint256: '00',
    },
    rootsPem: [root.certPem],
    leafSerial: leaf.serialHex.toLowerCase(),
    rootSerial,
  };
}

function meshConfig(): MeshConfig {
  return {
    ...EMPTY_MESH_CONFIG,
    versions: { listeners: 'v3', routes: 'v2', clusters: 'v7', endpoints: 'v9' },
    inbound: { defaultMode: 'STRICT', portModes: new Map([[9080, 'PERMISSIVE']]) },
    raw: {
      listeners: [{ name: 'reviews.shop.svc.cluster.local:9080', address: { socket_address: { port_value: 9080 } } }],
      clusters: [
        {
          name: 'outbound|9080||reviews.shop.svc.cluster.local',
          transport_socket: { tls_certificates: [{ private_key: { inline_string: 'k' } }] },
        },
      ],
      RDS: [{ name: '9080', virtual_hosts: [] }],
      'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment': [
        { cluster_name: 'outbound|9080||reviews.shop.svc.cluster.local', note: '-----BEGIN PRIVATE KEY-----x' },
      ],
    },
  };
}

async function startApp(options: ProxyAdminOptions): Promise<{ app: INestApplication; base: string }> {
  @Module({ imports: [ProxyAdminModule.forRoot(options)] })
  class TestModule {}
  const app = await NestFactory.create(TestModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, base: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('proxy admin API', () => {
  const identity = new FakeIdentity();
  const mesh = new FakeMesh();
  const metrics = new IstioMetrics();
  let rotations = 0;
  let rotateError: Error | undefined;
  let app: INestApplication;
  let base: string;
  let issued: ReturnType<typeof issueIdentity>;

  before(async () => {
    issued = issueIdentity();
    ({ app, base } = await startApp({
      identity,
      mesh,
      metrics,
      adminToken: TOKEN,
      extra: () => ({ listeners: new Map([['inbound', 15006]]), keyPem: 'should not show' }),
      rotate: async () => {
        if (rotateError) throw rotateError;
        rotations += 1;
      },
    }));
  });

  after(async () => {
    await app.close();
  });

  it('answers 401 problem+json without the token, or with a wrong one, on every route but /ready', async () => {
    const routes: [string, string][] = [
      ['GET', '/stats/prometheus'],
      ['GET', '/config_dump'],
      ['GET', '/certs'],
      ['POST', '/rotate'],
    ];
    for (const [method, path] of routes) {
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }];
      for (const headers of attempts) {
        const response = await fetch(`${base}${path}`, { method, headers });
        assert.equal(response.status, 401, `${method} ${path}`);
        assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
        assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="bowline"');
        const problem = (await response.json()) as Record<string, unknown>;
        assert.equal(problem.type, 'urn:bowline:error:unauthenticated');
        assert.equal(problem.title, 'Authentication required');
        assert.equal(problem.status, 401);
        assert.match(String(problem.detail), /Authorization: Bearer <token>/);
      }
    }
    assert.equal(rotations, 0);
  });

  it('/ready: 503 naming what is missing, then 200 once there is a certificate and a config; no token needed', async () => {
    let response = await fetch(`${base}/ready`);
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), {
      ready: false,
      reasons: [
        'no workload certificate yet',
        'no mesh configuration yet (pilot not connected; last error: connect ECONNREFUSED 127.0.0.1:15010)',
      ],
    });

    identity.snapshot = issued;
    response = await fetch(`${base}/ready`);
    assert.equal(response.status, 503);
    assert.equal(((await response.json()) as { reasons: string[] }).reasons.length, 1);

    mesh.config = meshConfig();
    mesh.state = { source: 'pilot', connected: true };
    response = await fetch(`${base}/ready`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      ready: true,
      identity: { spiffeId: SPIFFE_ID, notAfter: issued.certificate.notAfter.toISOString() },
      config: {
        source: 'pilot',
        connected: true,
        versions: { listeners: 'v3', routes: 'v2', clusters: 'v7', endpoints: 'v9' },
      },
    });
  });

  it('/stats/prometheus: the Istio metrics in the text format, with the certificate expiry and xDS state', async () => {
    identity.snapshot = issued;
    mesh.state = { source: 'pilot', connected: true };
    metrics.report(REQUEST);
    const response = await fetch(`${base}/stats/prometheus`, { headers: auth });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    assert.match(text, /^istio_requests_total\{reporter="destination",.*response_code="200".*\} 1$/m);
    assert.match(text, /^istio_request_duration_milliseconds_bucket\{le="5",.*\} 1$/m);
    const expiry = /^bowline_proxy_cert_expiry_seconds (\S+)$/m.exec(text);
    assert.equal(Number(expiry?.[1]), issued.certificate.notAfter.getTime() / 1000);
    assert.match(text, /^bowline_proxy_xds_connected 1$/m);
  });

  it("/certs: Envoy's shape from the identity snapshot, the chain leaf first, and never the private key", async () => {
    identity.snapshot = issued;
    const response = await fetch(`${base}/certs`, { headers: auth });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.doesNotMatch(text, /PRIVATE KEY/);
    const keyBody = issued.certificate.keyPem.split('\n')[1]!;
    assert.ok(!text.includes(keyBody), 'no part of the key');
    const body = JSON.parse(text) as {
      certificates: { ca_cert: Record<string, unknown>[]; cert_chain: Record<string, unknown>[] }[];
    };
    assert.equal(body.certificates.length, 1);
    const [{ ca_cert, cert_chain }] = body.certificates as [(typeof body.certificates)[0]];
    assert.equal(ca_cert.length, 1);
    assert.equal(ca_cert[0]!.serial_number, issued.rootSerial);
    assert.equal(cert_chain.length, 2);
    const leaf = cert_chain[0]!;
    assert.deepEqual(Object.keys(leaf).sort(), [
      'days_until_expiration',
      'expiration_time',
      'serial_number',
      'subject_alt_names',
      'valid_from',
    ]);
    assert.equal(leaf.serial_number, issued.leafSerial);
    assert.deepEqual(leaf.subject_alt_names, [{ uri: SPIFFE_ID }]);
    assert.equal(leaf.expiration_time, issued.certificate.notAfter.toISOString().replace('.000Z', 'Z'));
    assert.equal(leaf.valid_from, issued.certificate.notBefore.toISOString().replace('.000Z', 'Z'));
    assert.ok(['1', '2'].includes(String(leaf.days_until_expiration)), String(leaf.days_until_expiration));

    identity.snapshot = undefined;
    const empty = await fetch(`${base}/certs`, { headers: auth });
    assert.deepEqual(await empty.json(), { certificates: [] });
    identity.snapshot = issued;
  });

  it("/config_dump: Envoy's sections with the raw resources and versions, Bowline's state, no key material", async () => {
    identity.snapshot = issued;
    mesh.config = meshConfig();
    mesh.state = { source: 'pilot', connected: true };
    const response = await fetch(`${base}/config_dump`, { headers: auth });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.doesNotMatch(text, /PRIVATE KEY/);
    assert.doesNotMatch(text, /should not show/);
    const body = JSON.parse(text);
    assert.deepEqual(
      body.configs.map((c: { '@type': string }) => c['@type']),
      [CONFIG_DUMP_TYPES.listeners, CONFIG_DUMP_TYPES.clusters, CONFIG_DUMP_TYPES.routes, CONFIG_DUMP_TYPES.endpoints],
    );
    const [listeners, clusters, routes, endpoints] = body.configs;
    assert.equal(listeners.version_info, 'v3');
    assert.deepEqual(listeners.dynamic_listeners, [
      {
        name: 'reviews.shop.svc.cluster.local:9080',
        active_state: {
          version_info: 'v3',
          listener: {
            '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener',
            name: 'reviews.shop.svc.cluster.local:9080',
            address: { socket_address: { port_value: 9080 } },
          },
        },
      },
    ]);
    assert.equal(clusters.version_info, 'v7');
    assert.equal(clusters.dynamic_active_clusters[0].version_info, 'v7');
    assert.equal(
      clusters.dynamic_active_clusters[0].cluster.transport_socket.tls_certificates[0].private_key,
      REDACTED,
    );
    assert.equal(routes.dynamic_route_configs[0].route_config.name, '9080');
    assert.equal(routes.dynamic_route_configs[0].version_info, 'v2');
    assert.equal(endpoints.dynamic_endpoint_configs[0].endpoint_config.note, REDACTED);
    assert.deepEqual(body.bowline, {
      source: 'pilot',
      connected: true,
      lastError: null,
      versions: { listeners: 'v3', routes: 'v2', clusters: 'v7', endpoints: 'v9' },
      counts: { listeners: 0, routes: 0, clusters: 0, endpoints: 0 },
      inbound: { defaultMode: 'STRICT', portModes: { '9080': 'PERMISSIVE' } },
      identity: {
        spiffeId: SPIFFE_ID,
        serial: issued.leafSerial,
        notBefore: issued.certificate.notBefore.toISOString(),
        notAfter: issued.certificate.notAfter.toISOString(),
        trustDomain: 'cluster.local',
        roots: 1,
      },
      extra: { listeners: { inbound: 15006 }, keyPem: REDACTED },
    });

    mesh.config = { ...meshConfig(), raw: { ...meshConfig().raw, static_listeners: [{ name: 'virtualInbound' }] } };
    const merged: any = await (await fetch(`${base}/config_dump`, { headers: auth })).json();
    assert.deepEqual(merged.configs[0].static_listeners, [
      { listener: { '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener', name: 'virtualInbound' } },
    ]);
    assert.equal(merged.configs[0].dynamic_listeners.length, 1);
    mesh.state = { source: 'bootstrap', connected: false };
    const bootstrap: any = await (await fetch(`${base}/config_dump`, { headers: auth })).json();
    assert.equal(bootstrap.configs[0].dynamic_listeners.length, 0);
    assert.equal(bootstrap.configs[0].static_listeners.length, 1);
    assert.equal(bootstrap.configs[1].static_clusters[0].cluster.name, 'outbound|9080||reviews.shop.svc.cluster.local');
    mesh.state = { source: 'pilot', connected: true };

    mesh.config = undefined;
    const empty: any = await (await fetch(`${base}/config_dump`, { headers: auth })).json();
    assert.deepEqual(empty.configs[0].dynamic_listeners, []);
    assert.equal(empty.configs[0].version_info, '');
    assert.equal(empty.bowline.inbound, null);
  });

  it('POST /rotate: runs the rotation hook; its failure is a 503 problem', async () => {
    identity.snapshot = issued;
    const response = await fetch(`${base}/rotate`, { method: 'POST', headers: auth });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      rotated: true,
      serial: issued.leafSerial,
      notAfter: issued.certificate.notAfter.toISOString(),
    });
    assert.equal(rotations, 1);
    rotateError = new Error('Citadel unreachable');
    const failed = await fetch(`${base}/rotate`, { method: 'POST', headers: auth });
    assert.equal(failed.status, 503);
    assert.equal(failed.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.match(String(((await failed.json()) as { detail: string }).detail), /Citadel unreachable/);
    rotateError = undefined;
  });

  it('POST /rotate without a rotation hook: 404', async () => {
    const other = await startApp({ identity, mesh, metrics: new IstioMetrics(), adminToken: TOKEN });
    try {
      const response = await fetch(`${other.base}/rotate`, { method: 'POST', headers: auth });
      assert.equal(response.status, 404);
    } finally {
      await other.app.close();
    }
  });
});

const REQUEST: RequestRecord = {
  reporter: 'destination',
  startTime: new Date(),
  durationMs: 4,
  method: 'GET',
  path: '/',
  authority: 'reviews:9080',
  protocol: 'http',
  httpVersion: 'HTTP/1.1',
  responseCode: 200,
  flags: [],
  requestBytes: 0,
  responseBytes: 10,
  sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/productpage',
  destinationPrincipal: SPIFFE_ID,
  sourceWorkload: 'productpage-v1',
  sourceNamespace: 'shop',
  destinationWorkload: 'reviews-v1',
  destinationNamespace: 'shop',
  destinationService: 'reviews.shop.svc.cluster.local',
  destinationServiceName: 'reviews',
  connectionSecurityPolicy: 'mutual_tls',
};

describe('admin token', () => {
  it('matches "Bearer <token>" only, in any case of the scheme', () => {
    const digest = adminTokenDigest(TOKEN);
    assert.ok(bearerMatches(`Bearer ${TOKEN}`, digest));
    assert.ok(bearerMatches(`bearer ${TOKEN}  `, digest));
    assert.ok(!bearerMatches(`Bearer ${TOKEN}x`, digest));
    assert.ok(!bearerMatches(`Basic ${TOKEN}`, digest));
    assert.ok(!bearerMatches(TOKEN, digest));
    assert.ok(!bearerMatches(undefined, digest));
    assert.ok(!bearerMatches('Bearer ', digest));
  });

  it('refuses an empty token', () => {
    assert.throws(() => adminTokenDigest(''), /must not be empty/);
    assert.throws(
      () =>
        ProxyAdminModule.forRoot({
          identity: new FakeIdentity(),
          mesh: new FakeMesh(),
          metrics: new IstioMetrics(),
          adminToken: '',
        }),
      /must not be empty/,
    );
  });
});

describe('subjectAltNames', () => {
  it("reads node's subjectAltName text, quoted values included", () => {
    assert.deepEqual(
      subjectAltNames('URI:spiffe://cluster.local/ns/a/sa/b, DNS:a.example, IP Address:10.0.0.1, email:x@y'),
      [{ uri: 'spiffe://cluster.local/ns/a/sa/b' }, { dns: 'a.example' }, { ip_address: '10.0.0.1' }],
    );
    assert.deepEqual(subjectAltNames('URI:"spiffe://td/ns/a,b/sa/c", DNS:x'), [
      { uri: 'spiffe://td/ns/a,b/sa/c' },
      { dns: 'x' },
    ]);
    assert.deepEqual(subjectAltNames(undefined), []);
  });
});
