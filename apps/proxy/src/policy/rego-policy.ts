import { type Evaluation, type HeaderEntry, type InputTree, inputTree, PolicyRuntime } from '#libs/policy-runtime';
import type { AuthorizationRequest, AuthorizationResult } from '../dataplane/authorization';
import type { AuthzBundle } from './bundle';
import { DecisionCache } from './decision-cache';
import { type LocalWorkloadInfo, requestInput, requestInputParts } from './input';
import { type RegoKeyPlan, regoKeyPlan, regoRequestKey } from './rego-key';
import { deny, RBAC_DENIED } from './verdicts';

/** One Rego decision, as evaluated or as kept (then with `evalMicros` 0). */
export interface RegoOutcome {
  /** The entrypoint's value, as the decision log records it. */
  decision: unknown;
  verdict: AuthorizationResult;
  evalMicros: number;
}

/**
 * A bundle's Rego policy as the sidecar enforces it: opa-envoy-plugin's contract (decision
 * `{allowed, headers, http_status, body}`). When the bundle says which parts of the input the
 * decision can depend on (`inputPaths`), the policy is evaluated on those parts alone and its
 * decisions are kept by them: a request whose parts were seen before gets the kept decision
 * (its time, id and the headers the policy does not read do not matter to it). As for the
 * Istio module, kept decisions are found by two keys in one cache: the raw request fields the
 * parts come from (`r` + regoRequestKey: no object built, for a request seen before), then the
 * parts' JSON (`p` + JSON: what the policy is evaluated on). A decision is
 * kept only when no built-in read the clock and none failed: those may decide otherwise next
 * time. The kept decisions belong to this bundle: a swap leaves them behind.
 */
export class RegoPolicy {
  private readonly cache: DecisionCache<RegoOutcome>;
  private hits = 0;
  private misses = 0;

  private constructor(
    private readonly runtime: PolicyRuntime,
    readonly entrypoint: string,
    readonly name: string,
    readonly revision: number,
    /** The parts of the input the decision can depend on, and what regoRequestKey reads of them; null: any part. */
    private readonly reads: { tree: Exclude<InputTree, true>; key: RegoKeyPlan } | null,
    cacheEntries: number,
  ) {
    this.cache = new DecisionCache(cacheEntries);
  }

  /** Instantiates the bundle's `policy` module. Throws when it does not load or lacks its entrypoint. */
  static async load(
    policy: NonNullable<AuthzBundle['policy']>,
    options: { now?: () => Date; cacheEntries: number },
  ): Promise<RegoPolicy> {
    const runtime = await PolicyRuntime.load(policy.wasm, {
      data: policy.data,
      entrypoint: policy.entrypoint,
      now: options.now,
    });
    const tree = policy.inputPaths ? inputTree(policy.inputPaths) : true;
    const reads = tree === true ? null : { tree, key: regoKeyPlan(tree) };
    return new RegoPolicy(runtime, policy.entrypoint, policy.name, policy.revision, reads, options.cacheEntries);
  }

  /** Whether the policy may read any part of the input: the caller then builds the whole document. */
  get readsAnyPart(): boolean {
    return this.reads === null;
  }

  /**
   * The decision for `request` (arrived at `time`, ms). `input` is the whole input document,
   * which the caller built when `readsAnyPart`. Throws InputError for a request whose input
   * cannot be built (the caller denies).
   */
  decide(
    request: AuthorizationRequest,
    local: LocalWorkloadInfo,
    time: number,
    input: Record<string, unknown> | undefined,
  ): RegoOutcome {
    if (this.reads === null) {
      const evaluation = this.runtime.evaluate(input ?? requestInput(request, local, new Date(time)), this.entrypoint);
      return { decision: evaluation.result, verdict: this.verdict(evaluation), evalMicros: evaluation.durationMicros };
    }
    const { cache } = this;
    const exact = cache.capacity > 0 ? `r${regoRequestKey(request, time, this.reads.key)}` : undefined;
    let kept = exact === undefined ? undefined : cache.get(exact);
    if (kept) {
      this.hits += 1;
      return kept;
    }
    const parts = JSON.stringify(requestInputParts(request, local, new Date(time), this.reads.tree));
    kept = exact === undefined ? undefined : cache.get(`p${parts}`);
    if (kept) {
      this.hits += 1;
      cache.offer(exact!, kept);
      return kept;
    }
    this.misses += 1;
    const evaluation = this.runtime.evaluateJson(parts, this.entrypoint);
    const verdict = this.verdict(evaluation);
    if (
      exact !== undefined &&
      !evaluation.clockRead &&
      evaluation.builtinErrors.length === 0 &&
      !evaluation.decision.error
    ) {
      const outcome = Object.freeze({ decision: evaluation.result, verdict: Object.freeze(verdict), evalMicros: 0 });
      cache.offer(`p${parts}`, outcome);
      cache.offer(exact, outcome);
    }
    return { decision: evaluation.result, verdict, evalMicros: evaluation.durationMicros };
  }

  /** The kept decisions' counts; null when the policy may read any part (nothing is kept). */
  cacheStatus(): { entries: number; hits: number; misses: number } | null {
    return this.reads === null ? null : { entries: this.cache.size, hits: this.hits, misses: this.misses };
  }

  /** opa-envoy-plugin's decision: headers upstream when allowed; status, body and headers when denied. */
  private verdict(evaluation: Evaluation): AuthorizationResult {
    const d = evaluation.decision;
    if (d.error) return deny(403, RBAC_DENIED, `policy ${this.name}: ${d.error.message}`);
    const headers = d.headers.length > 0 ? headerRecord(d.headers) : undefined;
    if (d.allowed) return { allowed: true, reason: `policy ${this.name} allowed`, ...(headers ? { headers } : {}) };
    return deny(d.httpStatus ?? 403, d.body ?? RBAC_DENIED, `policy ${this.name} denied`, headers);
  }
}

/** Header entries as one value per name (repeated names joined with `, `). */
function headerRecord(entries: readonly HeaderEntry[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (const { key, value } of entries) {
    const name = key.toLowerCase();
    record[name] = record[name] === undefined ? value : `${record[name]}, ${value}`;
  }
  return record;
}
