/** The proxy's mesh configuration: xDS and bootstrap translation, the config store, routing and load balancing. */
export * from './model';
export { MESH_CONFIG_INVALID, MeshConfigError, type MeshResourceKind } from './errors';
export {
  assembleMeshConfig,
  CLUSTER_DEFAULTS,
  DEFAULT_ROUTE_TIMEOUT_MS,
  translateCluster,
  translateClusterLoadAssignment,
  translateListener,
  translateRouteConfiguration,
  VIRTUAL_INBOUND,
  type MeshConfigParts,
  type TranslatedAssignment,
  type TranslatedCluster,
  type TranslatedListener,
} from './translate';
export { bootstrapMeshConfig, loadBootstrapFile, parseBootstrap } from './bootstrap';
export { type AnyMessage, EnvoyTypes, envoyTypes, type TypedMessage } from './envoy-types';
export {
  type DiscoveryRequest,
  type DiscoveryResponse,
  type HandledResponse,
  XDS_TYPE_URLS,
  XdsState,
  type XdsType,
} from './xds-state';
export {
  adsPackageDefinition,
  XDS_LOADER_OPTIONS,
  XdsClient,
  type XdsClientOptions,
  type XdsClientStatus,
} from './xds-client';
export { MeshConfigStore, type MeshConfigStoreOptions, type XdsClientLike } from './mesh-config.store';
export {
  CLUSTER_DOMAIN,
  type OutboundTarget,
  pickWeighted,
  resolveOutbound,
  rewritePath,
  type RouteRequest,
  selectRoute,
} from './router';
export {
  type EndpointOutcome,
  EndpointPicker,
  type EndpointStats,
  type LoadBalancerOptions,
  LoadBalancers,
  type PickerStats,
} from './load-balancer';
