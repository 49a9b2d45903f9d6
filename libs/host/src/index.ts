export { EXIT_CONFIG, runService, type ServiceSpec } from './run-service';
export type { ServiceConfig, ServiceDefinition } from './service-definition';
