import { performance } from 'node:perf_hooks';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { createHostBuiltins } from './builtins';
import { type Decision, failedDecision, interpretResultSet } from './decision';

/** The default decision path, as in opa-envoy-plugin (`envoy/authz/allow`). */
export const DEFAULT_ENTRYPOINT = 'envoy/authz/allow';

const WASM_PAGE_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The exports of an OPA wasm module that the single-call evaluation uses (ABI 1.2+). */
interface OpaEvalExports {
  opa_eval(
    reserved: number,
    entrypoint: number,
    data: number,
    input: number,
    length: number,
    heap: number,
    format: number,
  ): number;
}

export interface PolicyRuntimeOptions {
  /** The base data document (`data`), set once; `setData` replaces it. */
  data?: unknown;
  /** The entrypoint `evaluate` uses when none is named; defaults to the module's first. */
  entrypoint?: string;
  /** The clock for `time.now_ns` and `io.jwt.decode_verify`; defaults to the system clock. */
  now?: () => Date;
  /** Upper bound of the instance's memory, in bytes (default 64 MiB): a runaway policy fails, it does not grow. */
  maxMemoryBytes?: number;
}

/** One evaluation: the decision, and what a caller needs to explain it. */
export interface Evaluation {
  decision: Decision;
  entrypoint: string;
  /** The entrypoint's value as the policy produced it; `undefined` when the decision is undefined. */
  result: unknown;
  /** Host built-in errors during the evaluation (each made its expression undefined, as in OPA). */
  builtinErrors: { builtin: string; message: string }[];
  durationMicros: number;
}

/**
 * One compiled policy, loaded once and evaluated many times (the wasm instance is reused:
 * each evaluation resets its heap). Evaluation is synchronous, so one instance serves one
 * evaluation at a time by construction. Host built-ins see one clock reading per evaluation.
 */
export class PolicyRuntime {
  private nowNs = 0n;
  private builtinErrors: { builtin: string; message: string }[] = [];

  private constructor(
    private policy: LoadedPolicy,
    readonly entrypoints: readonly string[],
    readonly defaultEntrypoint: string,
    private readonly now: () => Date,
  ) {}

  /** Instantiates `wasm` (the `policy.wasm` of an `opa build -t wasm` bundle). */
  static async load(wasm: Uint8Array, options: PolicyRuntimeOptions = {}): Promise<PolicyRuntime> {
    const holder: { runtime?: PolicyRuntime } = {};
    const builtins = createHostBuiltins({
      nowNs: () => holder.runtime?.nowNs ?? 0n,
      onError: (builtin, error) =>
        holder.runtime?.builtinErrors.push({
          builtin,
          message: error instanceof Error ? error.message : String(error),
        }),
    });
    const maximum = Math.ceil((options.maxMemoryBytes ?? 64 * 1024 * 1024) / WASM_PAGE_BYTES);
    const policy = await loadPolicy(wasm, { initial: 5, maximum }, builtins);
    const entrypoints = Object.keys(policy.entrypoints as Record<string, number>);
    const chosen = options.entrypoint ?? entrypoints[0];
    if (chosen === undefined || !entrypoints.includes(chosen)) {
      throw new Error(
        `entrypoint ${JSON.stringify(chosen)} is not compiled into this module (${entrypoints.join(', ')})`,
      );
    }
    const runtime = new PolicyRuntime(policy, entrypoints, chosen, options.now ?? (() => new Date()));
    holder.runtime = runtime;
    if (options.data !== undefined) runtime.setData(options.data);
    return runtime;
  }

  /** Replaces the base data document. */
  setData(data: unknown): void {
    this.policy.setData(data as object);
  }

  /** The raw result set of `entrypoint` for `input` (`[]` when undefined). Throws when evaluation fails. */
  query(input: unknown, entrypoint: string = this.defaultEntrypoint): unknown[] {
    if (!this.entrypoints.includes(entrypoint)) throw new Error(`unknown entrypoint ${JSON.stringify(entrypoint)}`);
    this.nowNs = BigInt(this.now().getTime()) * 1_000_000n;
    this.builtinErrors = [];
    if (this.policy.minorVersion < 2) return this.policy.evaluate(input, entrypoint) as unknown[];
    // As opa-wasm: a falsy input is no input at all.
    const json = input ? JSON.stringify(input) : '';
    return this.evalJson(json, (this.policy.entrypoints as Record<string, number>)[entrypoint]);
  }

  /**
   * `opa_eval`, the ABI's single call, as opa-wasm's `evaluate` makes it, without its per-call
   * buffers: the input's JSON is encoded straight into the instance's memory above the data
   * (the heap is reset there on every call), and the result is read up to its NUL natively.
   */
  private evalJson(json: string, entrypoint: number): unknown[] {
    const { mem, dataAddr } = this.policy;
    const dataHeapPtr = this.policy.dataHeapPtr as number;
    const { exports } = this.policy.wasmInstance as unknown as { exports: OpaEvalExports };
    let length: number;
    if (dataHeapPtr + json.length * 3 <= mem.buffer.byteLength) {
      length = encoder.encodeInto(json, new Uint8Array(mem.buffer, dataHeapPtr)).written;
    } else {
      const bytes = encoder.encode(json);
      const missing = dataHeapPtr + bytes.length - mem.buffer.byteLength;
      if (missing > 0) mem.grow(Math.ceil(missing / WASM_PAGE_BYTES));
      new Uint8Array(mem.buffer).set(bytes, dataHeapPtr);
      length = bytes.length;
    }
    const inputAddr = length === 0 ? 0 : dataHeapPtr;
    const result = exports.opa_eval(0, entrypoint, dataAddr, inputAddr, length, dataHeapPtr + length, 0);
    const memory = new Uint8Array(mem.buffer);
    return JSON.parse(decoder.decode(memory.subarray(result, memory.indexOf(0, result)))) as unknown[];
  }

  /**
   * Evaluates the decision for `input`. Never throws: an evaluation error, an undefined or a
   * malformed decision is returned as a denial with `decision.error` set (fail closed).
   */
  evaluate(input: unknown, entrypoint: string = this.defaultEntrypoint): Evaluation {
    const started = performance.now();
    let decision: Decision;
    let result: unknown;
    try {
      const resultSet = this.query(input, entrypoint);
      result = (resultSet[0] as { result?: unknown } | undefined)?.result;
      decision = interpretResultSet(resultSet);
    } catch (error) {
      decision = failedDecision('EVALUATION_FAILED', `policy evaluation failed: ${describe(error)}`);
    }
    return {
      decision,
      entrypoint,
      result,
      builtinErrors: this.builtinErrors,
      durationMicros: Math.round((performance.now() - started) * 1000),
    };
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}
