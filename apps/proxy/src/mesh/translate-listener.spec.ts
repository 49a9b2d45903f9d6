import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MeshConfigError } from './errors';
import { translateListener } from './translate-listener';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

const apiListener = (name: string, manager: Record<string, unknown>) => ({
  name,
  api_listener: { api_listener: { '@type': HCM, stat_prefix: name, ...manager } },
});
const inbound = (chains: unknown[]) => ({ name: 'virtualInbound', filter_chains: chains });
const chain = (transport?: string, port?: number, extra: Record<string, unknown> = {}) => ({
  filter_chain_match: {
    ...(transport ? { transport_protocol: transport } : {}),
    ...(port !== undefined ? { destination_port: { value: port } } : {}),
  },
  ...extra,
});
const policyOf = (resource: unknown) => {
  const translated = translateListener(resource);
  assert.equal(translated.kind, 'inbound');
  return translated.kind === 'inbound'
    ? { defaultMode: translated.policy.defaultMode, ports: [...translated.policy.portModes] }
    : undefined;
};

describe('translateListener', () => {
  it("reads Pilot's API listener: host and port from the name, routes by RDS name", () => {
    const name = 'Reviews.default.svc.cluster.local:9080';
    assert.deepEqual(
      translateListener(apiListener(name, { rds: { route_config_name: name, config_source: { ads: {} } } })),
      {
        kind: 'outbound',
        listener: { name, host: 'reviews.default.svc.cluster.local', port: 9080, routeConfigName: name },
      },
    );
  });

  it('takes an inline route_config, named after the listener when it has no name', () => {
    const translated = translateListener(
      apiListener('echo:80', {
        route_config: {
          virtual_hosts: [
            { name: 'echo', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] },
          ],
        },
      }),
    );
    assert.equal(translated.kind, 'outbound');
    if (translated.kind !== 'outbound') return;
    assert.equal(translated.listener.routeConfigName, 'echo:80');
    assert.equal(translated.routeConfig!.name, 'echo:80');
    assert.equal(translated.routeConfig!.virtualHosts[0].routes[0].clusters[0].cluster, 'c');
  });

  it('derives PeerAuthentication modes from virtualInbound chains per port and by default', () => {
    assert.deepEqual(
      policyOf(inbound([chain('tls', 9090), chain('raw_buffer', 9090), chain('raw_buffer', 8080), chain('tls')])),
      {
        defaultMode: 'STRICT',
        ports: [
          [9090, 'PERMISSIVE'],
          [8080, 'DISABLE'],
        ],
      },
    );
    assert.deepEqual(policyOf(inbound([chain('tls'), chain('raw_buffer')])), { defaultMode: 'PERMISSIVE', ports: [] });
    assert.deepEqual(policyOf(inbound([chain('raw_buffer')])), { defaultMode: 'DISABLE', ports: [] });
    assert.deepEqual(
      policyOf(inbound([chain('tls', 15)])),
      { defaultMode: 'PERMISSIVE', ports: [[15, 'STRICT']] },
      'no default chain',
    );
    const terminating = chain(undefined, undefined, {
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': DOWNSTREAM_TLS } },
    });
    assert.deepEqual(
      policyOf(inbound([terminating])),
      { defaultMode: 'STRICT', ports: [] },
      'a TLS chain without transport_protocol',
    );
    assert.deepEqual(policyOf(inbound([chain(undefined, 80)])), {
      defaultMode: 'PERMISSIVE',
      ports: [[80, 'DISABLE']],
    });
  });

  it('rejects other listeners and malformed API listeners with the field path', () => {
    const rejects = (resource: unknown, message: RegExp) =>
      assert.throws(
        () => translateListener(resource),
        (error: unknown) => error instanceof MeshConfigError && message.test(error.message),
      );
    rejects({ name: '0.0.0.0_15001', address: {} }, /^Listener "0\.0\.0\.0_15001": unsupported listener/);
    rejects(
      apiListener('echo', { rds: { route_config_name: 'echo' } }),
      /^Listener "echo" name: an outbound listener is named host:port/,
    );
    rejects(
      apiListener('echo:80', {}),
      /api_listener\.api_listener: one of rds\.route_config_name or route_config is required/,
    );
    rejects(
      { name: 'echo:80', api_listener: { api_listener: { '@type': 'type.googleapis.com/other.Manager' } } },
      /api_listener\.api_listener: unsupported type other\.Manager/,
    );
    rejects(
      {
        name: 'echo:80',
        api_listener: { api_listener: { type_url: 'type.googleapis.com/unknown.T', value: Buffer.alloc(0) } },
      },
      /unsupported type type\.googleapis\.com\/unknown\.T/,
    );
    rejects(
      inbound([chain('quic')]),
      /filter_chains\[0\]\.filter_chain_match\.transport_protocol: unsupported transport protocol "quic"/,
    );
  });
});
