import type { InboundPolicy, OutboundListener, PeerAuthenticationMode, RouteConfiguration } from './model';
import { Field } from './proto-reader';
import { routeConfigurationFrom } from './translate-route';

/** Name of the listener whose filter chains carry the inbound PeerAuthentication modes. */
export const VIRTUAL_INBOUND = 'virtualInbound';

const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TLS_SOCKETS = new Set(['envoy.transport_sockets.tls', 'tls']);
const TLS_CONTEXT_TYPES = new Set([
  'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
]);

/** What one Listener resource means to the proxy. */
export type TranslatedListener =
  /** An outbound service (`host:port`); `routeConfig` when the routes are inline rather than RDS. */
  | { readonly kind: 'outbound'; readonly listener: OutboundListener; readonly routeConfig?: RouteConfiguration }
  /** `virtualInbound`: the PeerAuthentication modes of the inbound side. */
  | { readonly kind: 'inbound'; readonly policy: InboundPolicy };

/**
 * Translates an `envoy.config.listener.v3.Listener`: Pilot's API listener (`api_listener` = an
 * HttpConnectionManager with `rds` or an inline `route_config`, named `host:port`) or the
 * `virtualInbound` listener. Anything else is unsupported.
 */
export function translateListener(resource: unknown): TranslatedListener {
  return listenerFrom(Field.resource(resource, 'Listener', 'name'));
}

/** The listener at `field` (an LDS resource or a bootstrap entry). */
export function listenerFrom(field: Field): TranslatedListener {
  const name = field.get('name').requireString();
  if (name === VIRTUAL_INBOUND) return { kind: 'inbound', policy: inboundPolicy(field) };
  const manager = field.get('api_listener').get('api_listener');
  if (!manager.isSet) field.fail('unsupported listener: neither an API listener nor virtualInbound');
  return outbound(name, field.get('name'), manager);
}

function outbound(name: string, nameField: Field, manager: Field): TranslatedListener {
  const match = /^(.+):(\d+)$/.exec(name);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65_535) nameField.fail('an outbound listener is named host:port');
  manager.requireType(HCM_TYPE);
  manager.get('scoped_routes').rejectIfSet();
  const listener = { name, host: match[1].toLowerCase(), port };
  const inline = manager.get('route_config');
  if (inline.isSet) {
    const routeConfig = routeConfigurationFrom(inline, name);
    return { kind: 'outbound', listener: { ...listener, routeConfigName: routeConfig.name }, routeConfig };
  }
  const routeConfigName = manager.get('rds').get('route_config_name').string();
  if (!routeConfigName) manager.fail('one of rds.route_config_name or route_config is required');
  return { kind: 'outbound', listener: { ...listener, routeConfigName } };
}

/**
 * PeerAuthentication modes from the filter chains of `virtualInbound`: per destination port (none
 * = the default), a `tls` and a `raw_buffer` chain = PERMISSIVE, `tls` only = STRICT, `raw_buffer`
 * only = DISABLE. A chain without a transport_protocol is `tls` when it terminates TLS.
 */
function inboundPolicy(field: Field): InboundPolicy {
  const protocols = new Map<number | undefined, Set<string>>();
  const chains = field.get('filter_chains').list();
  if (field.get('default_filter_chain').isSet) chains.push(field.get('default_filter_chain'));
  for (const chain of chains) {
    const match = chain.get('filter_chain_match');
    const port = match.get('destination_port').wrappedUint();
    const protocol = match.get('transport_protocol').string() || (terminatesTls(chain) ? 'tls' : 'raw_buffer');
    if (protocol !== 'tls' && protocol !== 'raw_buffer') {
      match.get('transport_protocol').fail(`unsupported transport protocol "${protocol}" (tls or raw_buffer)`);
    }
    const set = protocols.get(port) ?? new Set<string>();
    set.add(protocol);
    protocols.set(port, set);
  }
  const portModes = new Map<number, PeerAuthenticationMode>();
  for (const [port, set] of protocols) if (port !== undefined) portModes.set(port, modeOf(set));
  const defaults = protocols.get(undefined);
  return { defaultMode: defaults ? modeOf(defaults) : 'PERMISSIVE', portModes };
}

function modeOf(protocols: ReadonlySet<string>): PeerAuthenticationMode {
  if (protocols.has('tls')) return protocols.has('raw_buffer') ? 'PERMISSIVE' : 'STRICT';
  return 'DISABLE';
}

function terminatesTls(chain: Field): boolean {
  const socket = chain.get('transport_socket');
  if (!socket.isSet) return false;
  const config = socket.get('typed_config');
  return config.isSet
    ? TLS_CONTEXT_TYPES.has(config.anyType() ?? '')
    : TLS_SOCKETS.has(socket.get('name').string() ?? '');
}
