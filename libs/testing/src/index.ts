export { createTestDatabase, testServerUrl, type TestDatabase } from './database';
export { repoRoot, toolPath } from './repo';
export { freePort, PORT_VARIABLES, ServiceProcess, type AppName } from './service-process';
export { adminCall, json, until } from './http';
export { fetchTrustBundle, newKek, useCitadelTls } from './citadel';
export { newCsr, openssl, P256_KEY, selfSigned } from './openssl';
