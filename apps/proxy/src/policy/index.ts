export { BUNDLE_FORMAT, BundleFormatError, parseBundle, type AuthzBundle, type BundleModule } from './bundle';
export { BundleClient, BundleFetchError, type BundleClientOptions, type BundleClientStatus } from './bundle-client';
export {
  DecisionLogShipper,
  maskInput,
  toLogEntry,
  type DecisionLogEntry,
  type DecisionRecord,
} from './decision-log-shipper';
export { PolicyEnforcement, type PolicyEnforcementConfig } from './enforcement';
export { requestInput, type LocalWorkloadInfo } from './input';
export { NO_BUNDLE_BODY, PolicyAuthorizer, RBAC_DENIED } from './policy-authorizer';
