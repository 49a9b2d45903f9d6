import type { XdsTypeLabel } from '../metrics/pilot-metrics';

const PREFIX = 'type.googleapis.com/';

/** The xDS v3 resource types Pilot serves over ADS. */
export const TYPE_URLS = {
  LDS: `${PREFIX}envoy.config.listener.v3.Listener`,
  RDS: `${PREFIX}envoy.config.route.v3.RouteConfiguration`,
  CDS: `${PREFIX}envoy.config.cluster.v3.Cluster`,
  EDS: `${PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
} as const;

export type XdsType = keyof typeof TYPE_URLS;
export const XDS_TYPES = Object.keys(TYPE_URLS) as XdsType[];

/** Order of a push (Envoy's advice: clusters before their endpoints, listeners before routes). */
export const PUSH_ORDER: readonly XdsType[] = ['CDS', 'EDS', 'LDS', 'RDS'];

export const HCM_TYPE_URL = `${PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
export const ROUTER_TYPE_URL = `${PREFIX}envoy.extensions.filters.http.router.v3.Router`;

/** Envoy messages sidecar config packs into `Any` (each message's proto file is loaded by the EnvoyCodec). */
export const SIDECAR_TYPE_URLS = {
  FAULT: `${PREFIX}envoy.extensions.filters.http.fault.v3.HTTPFault`,
  UPSTREAM_TLS: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  RAW_BUFFER: `${PREFIX}envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer`,
  HTTP_PROTOCOL_OPTIONS: `${PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
  TLS_INSPECTOR: `${PREFIX}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
  PREVIOUS_HOSTS: `${PREFIX}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`,
} as const;

/** Packs an Envoy message (proto field names, enum names) into `Any` of `typeUrl`. */
export type Pack = (typeUrl: string, message: Record<string, unknown>) => AnyMessage;

export function xdsTypeOf(typeUrl: string): XdsType | undefined {
  return XDS_TYPES.find((type) => TYPE_URLS[type] === typeUrl);
}

export function typeLabel(type: XdsType): XdsTypeLabel {
  return type.toLowerCase() as XdsTypeLabel;
}

/** `google.protobuf.Any` as proto-loader writes it. */
export interface AnyMessage {
  type_url: string;
  value: Buffer;
}

/** `envoy.service.discovery.v3.DiscoveryRequest` as proto-loader reads it (proto field names). */
export interface DiscoveryRequest {
  version_info: string;
  node: NodeMessage | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}

export interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
  control_plane: { identifier: string };
}

/** `envoy.config.core.v3.Node`, the parts Pilot reads. */
export interface NodeMessage {
  id: string;
  cluster: string;
  metadata: import('#libs/proto').ProtoStruct | null;
  user_agent_name?: string;
  user_agent_version?: string;
}
