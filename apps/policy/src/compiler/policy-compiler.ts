import type { InputPath } from '#libs/policy-runtime';

/** Rego sources to compile: module file name → source. */
export interface CompileRequest {
  modules: Record<string, string>;
  /** Decision paths to compile in (`envoy/authz/allow`); the first is the decision. */
  entrypoints: string[];
  /**
   * `opa build -O=1`: OPA partially evaluates the entrypoints before planning (same decisions,
   * fewer steps per evaluation). Used for the modules Bowline generates; users' policies are
   * compiled as written.
   */
  optimize?: boolean;
  /** Also find which parts of the input the policy can read (`inputPathsRead`, on OPA's plan). */
  inputPaths?: boolean;
}

/** What compiling produced: only a policy that compiled is ever stored. */
export interface CompiledPolicy {
  wasm: Buffer;
  /** SHA-256 of the capabilities file it was compiled against. */
  capabilitiesSha256: string;
  opaVersion: string;
  /**
   * The parts of the input the decision can depend on, when asked for: `null` when it may read
   * any part (or the plan could not be made).
   */
  inputPaths?: InputPath[] | null;
}

export interface TestRequest {
  modules: Record<string, string>;
  tests: Record<string, string>;
  data: Record<string, unknown>;
}

/** One Rego test (`test_*` rule) and its outcome. */
export interface TestResult {
  package: string;
  name: string;
  file?: string;
  row?: number;
  outcome: 'pass' | 'fail' | 'error' | 'skip';
  message?: string;
  durationNs?: number;
}

export interface TestReport {
  passed: number;
  failed: number;
  results: TestResult[];
}

/**
 * Compiles Rego to WebAssembly restricted to the built-ins the runtime supports, and runs
 * Rego tests. Failures with the sources are `PolicyError('POLICY_COMPILE')` with OPA's
 * problems (code, message, file, row, col).
 */
export interface PolicyCompiler {
  compile(request: CompileRequest): Promise<CompiledPolicy>;
  test(request: TestRequest): Promise<TestReport>;
}

/** Injection token of the PolicyCompiler (the OPA CLI in production). */
export const POLICY_COMPILER = Symbol('POLICY_COMPILER');
