/**
 * libs/pki: the X.509 core of Bowline's SPIFFE CA (Citadel). No Nest, no other libs: pure
 * functions over node:crypto KeyObjects and PEM strings, with an injected clock (`now`).
 */
export { PkiError, isPkiError, PKI_ERROR_REASONS, type PkiErrorReason } from './errors';
export { parseSpiffeId, formatSpiffeId, isSpiffeId, type SpiffeId } from './spiffe';
export { classifyKey, describeKey, MIN_RSA_BITS, MAX_RSA_BITS, type KeyInfo } from './algorithms';
export { parseCsr, checkCsrIdentity, MAX_CSR_PEM_LENGTH, type ParsedCsr } from './csr';
export { loadSigningAuthority, type SigningAuthority } from './authority';
export { issueWorkloadCertificate, type WorkloadCertificateParams, type IssuedCertificate } from './certificate';
export {
  createRootCa,
  createIntermediateCa,
  DEFAULT_ROOT_TTL_SECONDS,
  type CaKeyType,
  type RootCaParams,
  type IntermediateCaParams,
  type CreatedCa,
} from './ca';
export { DEFAULT_CLOCK_SKEW_SECONDS, SERIAL_BYTES } from './tbs';
export { encodePem, splitPemCertificates } from './pem';
export { createCrl, CRL_REASONS, type CrlParams, type CrlReason, type RevokedEntry } from './crl';
