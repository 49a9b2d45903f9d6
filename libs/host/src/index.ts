export { EXIT_CONFIG, runService, stopOnSignals, type ServiceSpec } from './run-service';
export type { ServiceConfig, ServiceDefinition } from './service-definition';
export { CLOCK, SERVICE_CONFIG, SYSTEM_CLOCK, type Clock } from './tokens';
