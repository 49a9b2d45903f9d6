/** The proxy's admin HTTP API: readiness, Istio's scrape path, config and certificate dumps. */
export { ProxyAdminModule, type ProxyAdminOptions } from './proxy-admin.module';
export { ProxyAdminController, ProxyReadyController } from './proxy-admin.controller';
export { AdminTokenGuard, adminTokenDigest, bearerMatches, type AdminTokenDigest } from './admin-token.guard';
export { certsDump, certificateDetails, subjectAltNames, type CertificateDetails, type CertsDump } from './certs';
export {
  configDump,
  toJson,
  CONFIG_DUMP_TYPES,
  RAW_KEYS,
  REDACTED,
  RESOURCE_TYPES,
  type ConfigDump,
  type ConfigDumpInput,
  type Json,
  type XdsKind,
} from './config-dump';
export { readiness, type NotReady, type Ready } from './readiness';
export {
  PROXY_ADMIN_HOOKS,
  PROXY_ADMIN_TOKEN,
  PROXY_IDENTITY,
  PROXY_MESH,
  PROXY_METRICS,
  type ProxyAdminHooks,
} from './tokens';
