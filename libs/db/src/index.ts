export { createDataSource, MIGRATIONS_TABLE, type DataSourceParams } from './data-source';
export { DatabaseModule, type DatabaseModuleParams } from './database.module';
export { checkReadiness, type ReadinessReport } from './readiness';
