export { runService, type ServiceSpec } from './run-service';
export { EXIT_CONFIG, stopOnSignals } from '#libs/lifecycle';
export type { ServiceConfig, ServiceDefinition } from './service-definition';
export { CLOCK, SERVICE_CONFIG, SYSTEM_CLOCK, type Clock } from './tokens';
