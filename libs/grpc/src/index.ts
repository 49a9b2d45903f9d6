export { HealthController, HEALTH_SERVICE_NAMES, READINESS_PROBE, type ReadinessProbe } from './health.controller';
export {
  grpcServerOptions,
  HEALTH_PACKAGE,
  PROTO_LOADER_OPTIONS,
  serviceNames,
  type GrpcPackage,
  type GrpcServerParams,
} from './server-options';
export { GrpcErrorFilter } from './grpc-error.filter';
export { MemoryCertificateProvider } from './memory-certificate-provider';
