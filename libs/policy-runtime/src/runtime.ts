import { performance } from 'node:perf_hooks';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { createHostBuiltins } from './builtins';
import { type Decision, failedDecision, interpretResultSet } from './decision';

/** The default decision path, as in opa-envoy-plugin (`envoy/authz/allow`). */
export const DEFAULT_ENTRYPOINT = 'envoy/authz/allow';

const WASM_PAGE_BYTES = 64 * 1024;
/** The builtin errors of an evaluation that had none (shared, never added to). */
const NO_ERRORS: { builtin: string; message: string }[] = Object.freeze([]) as unknown as [];
/** An evaluation's clock before a built-in asked for it. */
const NOT_READ = -1;

/** How far an instance's heap may grow over evaluations before it is reset (see `evalJson`). */
const DEFAULT_HEAP_RESET_BYTES = 8 * 1024 * 1024;

/** The exports of an OPA wasm module that one evaluation uses (ABI 1.2+: each is in the ABI's list). */
interface OpaEvalExports {
  opa_heap_ptr_get(): number;
  opa_heap_ptr_set(address: number): void;
  opa_malloc(bytes: number): number;
  opa_value_parse(address: number, length: number): number;
  opa_eval_ctx_new(): number;
  opa_eval_ctx_set_input(context: number, value: number): void;
  opa_eval_ctx_set_data(context: number, value: number): void;
  opa_eval_ctx_set_entrypoint(context: number, entrypoint: number): void;
  eval(context: number): number;
  opa_eval_ctx_get_result(context: number): number;
  opa_json_dump(value: number): number;
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
  /**
   * How far the heap may grow over evaluations before it is reset to the data (default 8 MiB,
   * at most a quarter of `maxMemoryBytes`). Until then the module's own caches (compiled
   * `regex.*` and `glob.match` patterns, and the DFA states RE2 builds as it matches) are kept;
   * 0 resets it before every evaluation, as opa-wasm does.
   */
  heapResetBytes?: number;
}

/** One evaluation: the decision, and what a caller needs to explain it. */
export interface Evaluation {
  decision: Decision;
  entrypoint: string;
  /** The entrypoint's value as the policy produced it; `undefined` when the decision is undefined. */
  result: unknown;
  /** Host built-in errors during the evaluation (each made its expression undefined, as in OPA). */
  builtinErrors: { builtin: string; message: string }[];
  /**
   * Whether a built-in read the clock (`time.now_ns`, `io.jwt.decode_verify`): the same input may
   * then decide otherwise later. Every other built-in depends on its arguments alone.
   */
  clockRead: boolean;
  durationMicros: number;
}

/** One evaluation of a module whose value is not an opa-envoy decision (see `evaluateValue`). */
export interface ValueEvaluation {
  /** The entrypoint's value; `undefined` when undefined or when the evaluation failed. */
  result: unknown;
  /** Why the evaluation failed (it did not run to a value). */
  error?: string;
  builtinErrors: { builtin: string; message: string }[];
  durationMicros: number;
}

/**
 * One compiled policy, loaded once and evaluated many times (the wasm instance is reused:
 * each evaluation resets its heap). Evaluation is synchronous, so one instance serves one
 * evaluation at a time by construction. Host built-ins see one clock reading per evaluation.
 */
export class PolicyRuntime {
  /** The clock reading of the evaluation in progress, in ms; NOT_READ until a built-in asks. */
  private nowMs = NOT_READ;
  private builtinErrors: { builtin: string; message: string }[] = NO_ERRORS;
  private readonly entrypointIds: ReadonlyMap<string, number>;
  /** A Buffer over the instance's memory, made again when the memory grows (its ArrayBuffer changes). */
  private memoryView?: Buffer;
  /** The heap must be reset before the next evaluation: the data changed, or an evaluation did not finish. */
  private heapStale = true;

  private constructor(
    private policy: LoadedPolicy,
    readonly entrypoints: readonly string[],
    readonly defaultEntrypoint: string,
    private readonly now: () => Date,
    private readonly heapResetBytes: number,
  ) {
    this.entrypointIds = new Map(Object.entries(policy.entrypoints as Record<string, number>));
  }

  /** Instantiates `wasm` (the `policy.wasm` of an `opa build -t wasm` bundle). */
  static async load(wasm: Uint8Array, options: PolicyRuntimeOptions = {}): Promise<PolicyRuntime> {
    const holder: { runtime?: PolicyRuntime } = {};
    const builtins = createHostBuiltins({
      nowNs: () => BigInt(holder.runtime?.clock() ?? 0) * 1_000_000n,
      onError: (builtin, error) => {
        const runtime = holder.runtime;
        if (!runtime) return;
        // A fresh list: the last evaluation's (returned to its caller) is never added to.
        if (runtime.builtinErrors === NO_ERRORS) runtime.builtinErrors = [];
        runtime.builtinErrors.push({ builtin, message: error instanceof Error ? error.message : String(error) });
      },
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
    const runtime = new PolicyRuntime(
      policy,
      entrypoints,
      chosen,
      options.now ?? (() => new Date()),
      // Never so far that the heap kept could crowd out one evaluation's own.
      Math.min(options.heapResetBytes ?? DEFAULT_HEAP_RESET_BYTES, (maximum * WASM_PAGE_BYTES) / 4),
    );
    holder.runtime = runtime;
    if (options.data !== undefined) runtime.setData(options.data);
    return runtime;
  }

  /** Replaces the base data document. */
  setData(data: unknown): void {
    this.heapStale = true;
    this.policy.setData(data as object);
  }

  /** The raw result set of `entrypoint` for `input` (`[]` when undefined). Throws when evaluation fails. */
  query(input: unknown, entrypoint: string = this.defaultEntrypoint): unknown[] {
    if (this.policy.minorVersion < 2) {
      this.prepare(entrypoint);
      return this.policy.evaluate(input, entrypoint) as unknown[];
    }
    // As opa-wasm: a falsy input is no input at all.
    return this.queryJson(input ? JSON.stringify(input) : '', entrypoint);
  }

  /** `query` for an input already serialised (`json`: its JSON text; "" for no input). */
  queryJson(json: string, entrypoint: string = this.defaultEntrypoint): unknown[] {
    const id = this.prepare(entrypoint);
    if (this.policy.minorVersion < 2)
      return this.policy.evaluate(json === '' ? undefined : JSON.parse(json), entrypoint) as unknown[];
    return this.evalJson(json, id);
  }

  /** The clock reading of the evaluation in progress (read once, when a built-in first asks), in ms. */
  private clock(): number {
    if (this.nowMs === NOT_READ) this.nowMs = this.now().getTime();
    return this.nowMs;
  }

  /** The entrypoint's id; starts an evaluation (no clock reading, no built-in errors yet). */
  private prepare(entrypoint: string): number {
    const id = this.entrypointIds.get(entrypoint);
    if (id === undefined) throw new Error(`unknown entrypoint ${JSON.stringify(entrypoint)}`);
    this.begin();
    return id;
  }

  /** Starts an evaluation: no clock reading, no built-in errors yet. */
  private begin(): void {
    this.nowMs = NOT_READ;
    this.builtinErrors = NO_ERRORS;
  }

  /**
   * One evaluation through the ABI's calls, as its single call `opa_eval` makes it, except that
   * the heap is not reset to the data every time: it is reset when it has grown
   * `heapResetBytes` past the data, when the data changed, or after an evaluation that did not
   * finish. In between, the module's own caches survive (they live on the heap and a reset
   * clears them), so a pattern in `glob.match` or `regex.match` is compiled once, not on every
   * request. Each evaluation still starts with fresh memoisation (the module's `eval` does that).
   * ASCII text (nearly every input and result) is copied by a loop rather than through Buffer's
   * native UTF-8 calls, which cost more than the copy for a few hundred bytes.
   */
  private evalJson(json: string, entrypoint: number): unknown[] {
    const { mem, dataAddr } = this.policy;
    const { exports } = this.policy.wasmInstance as unknown as { exports: OpaEvalExports };
    const base = this.policy.dataHeapPtr as number;
    if (this.heapStale || exports.opa_heap_ptr_get() - base > this.heapResetBytes) exports.opa_heap_ptr_set(base);
    this.heapStale = true;
    let input = 0;
    if (json !== '') {
      let length = json.length;
      let address = exports.opa_malloc(length);
      // The allocation may have grown the memory.
      if (!writeAscii(this.memory(mem), json, address)) {
        length = Buffer.byteLength(json, 'utf8');
        address = exports.opa_malloc(length);
        this.memory(mem).write(json, address, 'utf8');
      }
      input = exports.opa_value_parse(address, length);
    }
    const context = exports.opa_eval_ctx_new();
    exports.opa_eval_ctx_set_input(context, input);
    exports.opa_eval_ctx_set_data(context, dataAddr);
    exports.opa_eval_ctx_set_entrypoint(context, entrypoint);
    if (exports.eval(context) !== 0) throw new Error('eval failed');
    const result = exports.opa_json_dump(exports.opa_eval_ctx_get_result(context));
    const text = readJson(this.memory(mem), result);
    this.heapStale = false;
    return JSON.parse(text) as unknown[];
  }

  private memory(mem: { readonly buffer: ArrayBuffer }): Buffer {
    if (this.memoryView === undefined || this.memoryView.buffer !== mem.buffer)
      this.memoryView = Buffer.from(mem.buffer);
    return this.memoryView;
  }

  /**
   * Evaluates the decision for `input`. Never throws: an evaluation error, an undefined or a
   * malformed decision is returned as a denial with `decision.error` set (fail closed).
   */
  evaluate(input: unknown, entrypoint: string = this.defaultEntrypoint): Evaluation {
    return this.decide(() => this.query(input, entrypoint), entrypoint);
  }

  /** `evaluate` for an input already serialised (`json`: its JSON text; "" for no input). Never throws. */
  evaluateJson(json: string, entrypoint: string = this.defaultEntrypoint): Evaluation {
    return this.decide(() => this.queryJson(json, entrypoint), entrypoint);
  }

  private decide(query: () => unknown[], entrypoint: string): Evaluation {
    const started = performance.now();
    // This evaluation's state, even when its input cannot be serialised (before `prepare`).
    this.begin();
    let decision: Decision;
    let result: unknown;
    try {
      const resultSet = query();
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
      clockRead: this.nowMs !== NOT_READ,
      durationMicros: Math.round((performance.now() - started) * 1000),
    };
  }

  /**
   * The entrypoint's value for `input`, read as is (not as an opa-envoy decision): for modules
   * with a decision shape of their own, such as the generated Istio module's. Never throws.
   */
  evaluateValue(input: unknown, entrypoint: string = this.defaultEntrypoint): ValueEvaluation {
    let json: string;
    try {
      // As opa-wasm: a falsy input is no input at all.
      json = input ? JSON.stringify(input) : '';
    } catch (cause) {
      return {
        result: undefined,
        error: `policy evaluation failed: ${describe(cause)}`,
        builtinErrors: [],
        durationMicros: 0,
      };
    }
    return this.evaluateValueJson(json, entrypoint);
  }

  /** `evaluateValue` for an input already serialised (`json`: its JSON text; "" for no input). */
  evaluateValueJson(json: string, entrypoint: string = this.defaultEntrypoint): ValueEvaluation {
    const started = performance.now();
    let result: unknown;
    let error: string | undefined;
    try {
      const resultSet = this.queryJson(json, entrypoint);
      if (resultSet.length > 1) error = 'the module produced more than one value';
      else result = (resultSet[0] as { result?: unknown } | undefined)?.result;
    } catch (cause) {
      error = `policy evaluation failed: ${describe(cause)}`;
    }
    return {
      result,
      ...(error === undefined ? {} : { error }),
      builtinErrors: this.builtinErrors,
      durationMicros: Math.round((performance.now() - started) * 1000),
    };
  }
}

/** Writes `text` at `at` when it is ASCII (one byte per unit); false, at its first other unit, when it is not. */
function writeAscii(view: Buffer, text: string, at: number): boolean {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const unit = text.charCodeAt(i);
    if (unit > 0x7f) return false;
    view[at + i] = unit;
  }
  return true;
}

/** The NUL-terminated UTF-8 text at `at`. */
function readJson(view: Buffer, at: number): string {
  let text = '';
  let i = at;
  for (let byte = view[i]; byte !== 0; byte = view[++i]) {
    if (byte > 0x7f || i - at >= 256) return view.toString('utf8', at, view.indexOf(0, at));
    text += String.fromCharCode(byte);
  }
  return text;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}
