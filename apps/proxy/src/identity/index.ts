/** The proxy's workload identity: certificates from Citadel, renewal, trust bundle and revocations. */
export { WorkloadIdentity, type WorkloadIdentityOptions } from './workload-identity';
export type { IdentitySnapshot, IdentitySource, IdentityStatus, WorkloadCertificate } from './types';
export { ProxyError, ProxyKinds, type ProxyErrorCode } from './errors';
export { buildCsr, type CsrParams } from './csr';
export { normalizeSerial } from './certificate';
