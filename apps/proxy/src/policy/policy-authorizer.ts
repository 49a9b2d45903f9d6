import { performance } from 'node:perf_hooks';
import type { Logger } from '#libs/logging';
import {
  expandIstioDecision,
  InputError,
  type IstioAttributes,
  istioAttributes,
  type IstioDecision,
  type IstioOutcome,
  type KeyedValue,
  matcherKey,
  matcherKeyPlan,
  PolicyRuntime,
  type ValueEvaluation,
} from '#libs/policy-runtime';
import type { AuthorizationRequest, AuthorizationResult, InboundAuthorizer } from '../dataplane/authorization';
import { AUTHORIZATION_DURATION_BUCKETS, type AuthorizationProbe, HistogramCells } from '../telemetry';
import { type AuthzBundle, BundleFormatError } from './bundle';
import { DecisionCache } from './decision-cache';
import type { DecisionRecord } from './decision-log-shipper';
import {
  type AttributeSelection,
  attributeSelection,
  type LocalWorkloadInfo,
  requestAttributes,
  requestInput,
  requestKey,
} from './input';
import { RegoPolicy } from './rego-policy';
import { deny, RBAC_DENIED } from './verdicts';

export { RBAC_DENIED };

/** The body while no bundle was ever loaded: the proxy fails closed. */
export const NO_BUNDLE_BODY = 'RBAC: access denied (no authorization bundle loaded yet: failing closed)';

/** A bundle loaded into wasm instances, swapped in whole. */
interface LoadedBundle {
  revision: string;
  istio: {
    runtime: PolicyRuntime;
    entrypoint: string;
    policies: string[];
    headers: string[];
    /** The attributes the module reads (the bundle's `attributes`). */
    selection: AttributeSelection;
    /** What its compact decisions index. */
    outcomes: IstioOutcome[];
    version: number;
    /** Decisions by request key and by matcher key (see istioDecision): this bundle's only, so a swap leaves them behind. */
    cache: DecisionCache<IstioOutcomeOf>;
    /** What matcherKey reads; null when the bundle lists no matchers. */
    plan: KeyedValue[] | null;
  };
  rego: RegoPolicy | null;
  loadedAt: Date;
}

/** Decisions of the Istio module kept per bundle by default (PROXY_AUTHZ_CACHE_ENTRIES; see DecisionCache). */
export const DECISION_CACHE_ENTRIES = 4096;

/** One Istio decision, as evaluated or as kept (then with `evalMicros` 0: nothing was evaluated). */
interface IstioOutcomeOf {
  decision?: IstioDecision;
  verdict: AuthorizationResult;
  evalMicros: number;
}

/** Where decisions go (DecisionLogShipper in the proxy). */
export interface DecisionSink {
  /** Called on the request path: must not build the record's input (see DecisionRecord). */
  record(entry: DecisionRecord): void;
}

export interface PolicyAuthorizerOptions {
  readonly local: LocalWorkloadInfo;
  readonly logger: Logger;
  readonly decisions?: DecisionSink;
  /** Whether allowed decisions go to `decisions` too (default true; false: denials and AUDIT-marked ones only, PROXY_DECISION_LOGS=denied). */
  readonly logAllowed?: boolean;
  /** Names this proxy in decision logs. */
  readonly reporter: string;
  /** The clock for time-dependent built-ins; defaults to the system clock. */
  readonly now?: () => Date;
  /** Decisions kept per bundle, of the Istio module and of the Rego policy each (default DECISION_CACHE_ENTRIES; 0: none). */
  readonly cacheEntries?: number;
}

/** One request's outcome before it is turned into an AuthorizationResult and logged. */
interface Outcome {
  result: AuthorizationResult;
  path: string;
  decision?: unknown;
  policy?: { name: string; revision: number };
  evalMicros: number;
  /** An AUDIT AuthorizationPolicy matched: the decision is logged even when only denials are. */
  audit?: boolean;
}

/**
 * In-process authorization on the inbound side: the Istio AuthorizationPolicies of the bundle
 * first (the module applies Istio's order: CUSTOM reported, DENY, then ALLOW; no ALLOW policy
 * for the workload allows), then the bundle's Rego policy if it has one (opa-envoy-plugin's
 * decision `{allowed, headers, http_status, body}`). Fails closed: without a bundle, on an
 * input or evaluation error, or on an undefined or malformed decision, the request is denied.
 */
export class PolicyAuthorizer implements InboundAuthorizer, AuthorizationProbe {
  private current?: LoadedBundle;
  private allowed = 0;
  private denied = 0;
  private cacheHits = 0;
  private cacheMisses = 0;
  /** Each decision's wall time, in seconds (`bowline_proxy_authorization_duration_seconds`). */
  readonly durations = new HistogramCells(AUTHORIZATION_DURATION_BUCKETS);

  constructor(private readonly options: PolicyAuthorizerOptions) {}

  /** Whether a bundle is loaded (requests can be allowed at all). */
  get ready(): boolean {
    return this.current !== undefined;
  }

  /**
   * Loads `bundle`'s modules into new wasm instances, then swaps them in. Throws (keeping the
   * bundle in use) when a module does not instantiate or lacks its entrypoint, or when the
   * bundle was made for another namespace or other workload labels (its module would then
   * apply policies that do not select this workload: it checks no scope).
   */
  async install(bundle: AuthzBundle): Promise<void> {
    const { local, now } = this.options;
    if (bundle.namespace !== local.namespace) {
      throw new BundleFormatError(
        `bundle.namespace: made for ${bundle.namespace}, this workload is in ${local.namespace}`,
      );
    }
    if (bundle.labels !== null && !sameLabels(bundle.labels, local.labels)) {
      throw new BundleFormatError(
        `bundle.labels: made for ${JSON.stringify(bundle.labels)}, this workload's are ${JSON.stringify(local.labels)}`,
      );
    }
    const istio = await PolicyRuntime.load(bundle.istio.wasm, {
      data: bundle.istio.data,
      entrypoint: bundle.istio.entrypoint,
      now,
    });
    const rego = bundle.policy
      ? await RegoPolicy.load(bundle.policy, { now, cacheEntries: this.options.cacheEntries ?? DECISION_CACHE_ENTRIES })
      : null;
    this.current = {
      revision: bundle.revision,
      istio: {
        runtime: istio,
        entrypoint: bundle.istio.entrypoint,
        policies: bundle.istio.policies,
        headers: bundle.istio.headers,
        selection: attributeSelection(bundle.istio.attributes),
        outcomes: bundle.istio.outcomes,
        version: bundle.istio.version,
        cache: new DecisionCache(this.options.cacheEntries ?? DECISION_CACHE_ENTRIES),
        plan: bundle.istio.matchers
          ? matcherKeyPlan(bundle.istio.attributes, bundle.istio.headers, bundle.istio.matchers)
          : null,
      },
      rego,
      loadedAt: new Date(),
    };
  }

  /**
   * The whole opa-envoy input document is built here only when a Rego policy may read any part
   * of it; otherwise the module's attributes come straight from the request, a Rego policy gets
   * the parts it reads, and the decision log gets a function that builds the whole input later
   * (off the request path).
   */
  authorize(request: AuthorizationRequest): AuthorizationResult {
    const started = performance.now();
    const bundle = this.current;
    const time = Date.now();
    let input: Record<string, unknown> | undefined;
    let outcome: Outcome;
    try {
      // The whole document only for a Rego policy that may read any of it (and for the log of a
      // request denied for want of a bundle); else the log builds it later, off the request path.
      if (!bundle || bundle.rego?.readsAnyPart) input = requestInput(request, this.options.local, new Date(time));
      outcome = bundle
        ? this.decide(bundle, request, time, input)
        : { result: deny(403, NO_BUNDLE_BODY, 'no authorization bundle loaded'), path: '', evalMicros: 0 };
    } catch (error) {
      const reason = error instanceof InputError ? `invalid request: ${error.message}` : `error: ${String(error)}`;
      outcome = { result: deny(403, RBAC_DENIED, reason), path: '', evalMicros: 0 };
    }
    if (outcome.result.allowed) this.allowed += 1;
    else this.denied += 1;
    this.log(request, time, input, outcome);
    this.durations.observe((performance.now() - started) / 1000);
    return outcome.result;
  }

  decisions(): { allowed: number; denied: number } {
    return { allowed: this.allowed, denied: this.denied };
  }

  revision(): string | null {
    return this.current?.revision ?? null;
  }

  status() {
    const c = this.current;
    return {
      loaded: c !== undefined,
      revision: c?.revision ?? null,
      loadedAt: c?.loadedAt.toISOString() ?? null,
      authorizationPolicies: c?.istio.policies ?? [],
      galleyVersion: c?.istio.version ?? null,
      policy: c?.rego ? { name: c.rego.name, revision: c.rego.revision } : null,
      decisions: this.decisions(),
      decisionCache: { entries: c?.istio.cache.size ?? 0, hits: this.cacheHits, misses: this.cacheMisses },
      // The Rego policy's, when it has one and the bundle says which parts of the input it reads.
      policyDecisionCache: c?.rego?.cacheStatus() ?? null,
    };
  }

  /**
   * AuthorizationPolicies (on the request's Istio attributes, with only the headers the module
   * reads), then the Rego policy when the bundle has one (see RegoPolicy.decide; `input` is the
   * whole document when it may read any part).
   */
  private decide(
    bundle: LoadedBundle,
    request: AuthorizationRequest,
    time: number,
    input: Record<string, unknown> | undefined,
  ): Outcome {
    const { decision, verdict, evalMicros } = this.istioDecision(bundle, request, input);
    const path = bundle.istio.entrypoint;
    const audit = decision?.audit === true;
    if (!verdict.allowed || !bundle.rego) return { result: verdict, path, decision, evalMicros, audit };
    const rego = bundle.rego.decide(request, this.options.local, time, input);
    return {
      result: rego.verdict,
      path: bundle.rego.entrypoint,
      decision: rego.decision,
      policy: { name: bundle.rego.name, revision: bundle.rego.revision },
      evalMicros: evalMicros + rego.evalMicros,
      audit,
    };
  }

  /**
   * The Istio module's decision for `request`: kept, or evaluated on the module input (and
   * offered to the cache when it succeeded). Kept decisions are found by two keys in one cache:
   * the request fields the module input comes from (`requestKey`, `r` + key: cheap, for a
   * request seen before), then, when the bundle lists its matchers, the outcomes of the tests
   * the module applies to each value (`matcherKey`, `m` + key: requests differing only where no
   * test tells them apart share it). A decision found by its class is also offered under the
   * request's own key, so a request seen again costs the cheap key alone.
   */
  private istioDecision(
    bundle: LoadedBundle,
    request: AuthorizationRequest,
    input: Record<string, unknown> | undefined,
  ): IstioOutcomeOf {
    const { cache, headers, selection, plan } = bundle.istio;
    let attributes: IstioAttributes | undefined;
    let exact: string | undefined;
    let byClass: string | undefined;
    if (cache.capacity > 0) {
      exact = `r${requestKey(request, headers, selection)}`;
      const kept = cache.get(exact);
      if (kept) {
        this.cacheHits += 1;
        return kept;
      }
      if (plan) {
        attributes = this.moduleInput(bundle, request, input);
        byClass = `m${matcherKey(attributes, plan)}`;
        const keptForClass = cache.get(byClass);
        if (keptForClass) {
          this.cacheHits += 1;
          cache.offer(exact, keptForClass);
          return keptForClass;
        }
      }
    }
    this.cacheMisses += 1;
    attributes ??= this.moduleInput(bundle, request, input);
    const istio = bundle.istio.runtime.evaluateValueJson(JSON.stringify(attributes), bundle.istio.entrypoint);
    const decision = istio.error ? undefined : expandIstioDecision(istio.result, bundle.istio.outcomes);
    const verdict = istioVerdict(decision, istio);
    if (exact !== undefined && decision && istio.builtinErrors.length === 0) {
      const kept = Object.freeze({ decision, verdict: Object.freeze(verdict), evalMicros: 0 });
      if (byClass !== undefined) cache.offer(byClass, kept);
      cache.offer(exact, kept);
    }
    return { decision, verdict, evalMicros: istio.durationMicros };
  }

  /** The Istio module's input: from the input document when one was built (a Rego policy), else straight from the request. */
  private moduleInput(
    bundle: LoadedBundle,
    request: AuthorizationRequest,
    input: Record<string, unknown> | undefined,
  ): IstioAttributes {
    const { headers, selection } = bundle.istio;
    return input ? istioAttributes(input, headers) : requestAttributes(request, this.options.local, headers, selection);
  }

  private log(
    request: AuthorizationRequest,
    time: number,
    input: Record<string, unknown> | undefined,
    outcome: Outcome,
  ): void {
    const { result } = outcome;
    if (!this.options.decisions || (result.allowed && this.options.logAllowed === false && !outcome.audit)) return;
    const local = this.options.local;
    // One object literal of a fixed shape (undefined fields are left out of the entry): the id,
    // the timestamp's text and a missing input are made when the batch is sent.
    this.options.decisions.record({
      time,
      path: outcome.path || 'bowline/proxy/authz',
      input: input ?? (() => loggedInput(request, local, new Date(time))),
      result: outcome.decision,
      allowed: result.allowed,
      http_status: result.allowed ? undefined : (result.status ?? 403),
      policy: outcome.policy?.name,
      revision: outcome.policy?.revision,
      reason:
        result.reason === undefined || result.reason.length <= 1024 ? result.reason : result.reason.slice(0, 1024),
      reporter: this.options.reporter,
      metrics: { timer_rego_query_eval_ns: outcome.evalMicros * 1000 },
    });
  }
}

/** The input a decision is logged with: the request's input document, or only its principal when it has none. */
function loggedInput(request: AuthorizationRequest, local: LocalWorkloadInfo, time: Date): Record<string, unknown> {
  try {
    return requestInput(request, local, time);
  } catch {
    return { attributes: { source: { principal: request.sourcePrincipal ?? '' } } };
  }
}

/** Whether two label maps hold the same pairs. */
function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

/** The Istio module's decision, expanded; anything but a compact decision of its outcome table denies. */
function istioVerdict(decision: IstioDecision | undefined, evaluation: ValueEvaluation): AuthorizationResult {
  if (decision === undefined) {
    const why = evaluation.error ?? `no decision (${JSON.stringify(evaluation.result) ?? 'undefined'})`;
    return deny(403, RBAC_DENIED, `AuthorizationPolicy evaluation failed: ${why}`);
  }
  const reason = `AuthorizationPolicy: ${decision.reason}${decision.policy ? ` (${decision.policy})` : ''}`;
  return decision.allowed ? { allowed: true, reason } : deny(403, RBAC_DENIED, reason);
}
