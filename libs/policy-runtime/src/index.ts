/**
 * libs/policy-runtime: evaluates Rego policies compiled to WebAssembly by `opa build -t wasm`,
 * with host implementations of the built-ins OPA does not compile into wasm, the
 * opa-envoy-plugin input document and decision contract. No Nest: the proxy embeds it.
 */
export {
  PolicyRuntime,
  DEFAULT_ENTRYPOINT,
  type Evaluation,
  type PolicyRuntimeOptions,
  type ValueEvaluation,
} from './runtime';
export {
  interpretDecision,
  interpretResultSet,
  failedDecision,
  type Decision,
  type DecisionErrorCode,
  type HeaderEntry,
} from './decision';
export {
  buildInput,
  httpAttributes,
  inputFromAttributes,
  normaliseRequestPath,
  parseBody,
  parsePathAndQuery,
  socketAddress,
  workloadIdentity,
  InputError,
  type HttpRequestDescription,
  type WorkloadIdentity,
} from './input';
export {
  keyPart,
  matcherHolds,
  matcherKey,
  matcherKeyPlan,
  type IstioMatcher,
  type IstioMatchers,
  type KeyedValue,
} from './istio-matchers';
export { checkRequestAttributes, checkRequestToInput, protoStructToJson } from './check-request';
export { createHostBuiltins, HOST_BUILTINS, type BuiltinContext } from './builtins';
export {
  capabilitiesHash,
  LANGUAGE_BUILTINS,
  NATIVE_WASM_BUILTINS,
  restrictCapabilities,
  SDK_BUILTINS,
  type OpaCapabilities,
} from './capabilities';
export { readPlanBundle, readTar, readWasmBundle, type WasmBundle } from './bundle';
export { inputTree, pruneInput, type InputPath, type InputTree } from './input-paths';
export { MASKED, maskSecretHeaders, SECRET_HEADERS } from './masking';

import { HOST_BUILTINS } from './builtins';
import { LANGUAGE_BUILTINS, NATIVE_WASM_BUILTINS, SDK_BUILTINS } from './capabilities';

/** Every built-in a policy evaluated by this runtime may call. */
export const SUPPORTED_BUILTINS: readonly string[] = Object.freeze(
  [...new Set([...NATIVE_WASM_BUILTINS, ...LANGUAGE_BUILTINS, ...SDK_BUILTINS, ...HOST_BUILTINS])].sort(),
);
export { istioAttributes, type IstioAttributes } from './istio-attributes';
export { formatWorkloadLabels, labelKeyProblem, labelValueProblem, parseWorkloadLabels } from './workload-labels';
export {
  expandIstioDecision,
  type IstioDecision,
  type IstioDryRunEntry,
  type IstioOutcome,
  type IstioRuleHit,
} from './istio-decision';
