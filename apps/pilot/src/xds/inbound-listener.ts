import type { EffectivePeerAuthentication, MtlsMode } from './peer-authentication';
import { HCM_TYPE_URL, type Pack, ROUTER_TYPE_URL, SIDECAR_TYPE_URLS } from './types';

type Message = Record<string, unknown>;

/** The name of a sidecar's inbound listener (Istio's). */
export const VIRTUAL_INBOUND = 'virtualInbound';
/** Istio's inbound capture port (the Bowline proxy listens on its own PROXY_INBOUND_PORT). */
const INBOUND_PORT = 15006;

/** The transport protocols a mode accepts, as tls_inspector detects them. */
const TRANSPORTS: Readonly<Record<MtlsMode, readonly string[]>> = {
  STRICT: ['tls'],
  PERMISSIVE: ['tls', 'raw_buffer'],
  DISABLE: ['raw_buffer'],
};

/**
 * The `virtualInbound` listener of a sidecar: its filter chains say which connections the
 * workload accepts under its PeerAuthentication. Per port-level mode, chains matching that
 * destination port; then chains for every other port. STRICT accepts `tls` only, PERMISSIVE
 * `tls` and `raw_buffer`, DISABLE `raw_buffer` only; a connection no chain matches is refused.
 * Each chain's filter is an HttpConnectionManager (stat prefix `inbound`) with the router.
 */
export function virtualInboundListener(policy: EffectivePeerAuthentication, pack: Pack): Message {
  const manager = pack(HCM_TYPE_URL, {
    stat_prefix: 'inbound',
    route_config: { name: 'inbound' },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: pack(ROUTER_TYPE_URL, {}) }],
  });
  const filters = [{ name: 'envoy.filters.network.http_connection_manager', typed_config: manager }];
  const ports = [...policy.ports].sort(([a], [b]) => a - b);
  return {
    name: VIRTUAL_INBOUND,
    address: { socket_address: { address: '0.0.0.0', port_value: INBOUND_PORT } },
    listener_filters: [
      { name: 'envoy.filters.listener.tls_inspector', typed_config: pack(SIDECAR_TYPE_URLS.TLS_INSPECTOR, {}) },
    ],
    traffic_direction: 'INBOUND',
    filter_chains: [
      ...ports.flatMap(([port, mode]) => filterChains(mode, port, filters)),
      ...filterChains(policy.mode, undefined, filters),
    ],
  };
}

function filterChains(mode: MtlsMode, port: number | undefined, filters: readonly Message[]): Message[] {
  return TRANSPORTS[mode].map((transport) => ({
    name: `inbound|${port ?? 'default'}|${transport}`,
    filter_chain_match:
      port === undefined
        ? { transport_protocol: transport }
        : { destination_port: { value: port }, transport_protocol: transport },
    filters,
  }));
}
