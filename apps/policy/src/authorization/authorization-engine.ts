import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import { PolicyRuntime } from '#libs/policy-runtime';
import { POLICY_COMPILER, type PolicyCompiler } from '../compiler/policy-compiler';
import type { PolicyConfig } from '../config';
import { AuthorizationMetrics, type DecidedBy } from './authorization.metrics';
import { AuthorizationNotReady } from './errors';
import { ISTIO_AUTHZ_ENTRYPOINT, ISTIO_AUTHZ_REGO } from './istio-authz.rego';
import { type Finding, type NormalPolicy, normalisePolicy } from './normalise';
import { AuthorizationPolicySet } from './policy-set';

const COMPILE_RETRY_MIN_MS = 1_000;
const COMPILE_RETRY_MAX_MS = 30_000;

/** The data in use: built from one version of the set. */
interface Built {
  version: number;
  builtAt: Date;
  policies: NormalPolicy[];
  findings: Finding[];
}

/** One decision as the Rego module makes it (see ISTIO_AUTHZ_REGO), or a fail-closed denial. */
export interface AuthorizationDecision {
  allowed: boolean;
  action: 'ALLOW' | 'DENY';
  reason: string;
  policy: string | null;
  ruleIndex: number | null;
  audit: boolean;
  auditPolicies: { policy: string; ruleIndex: number }[];
  custom: { policy: string; ruleIndex: number }[];
  dryRun: { policy: string; action: string; matched: boolean; ruleIndex: number | null }[];
  applicable: string[];
}

/**
 * Istio AuthorizationPolicies on the policy engine: one static Rego module (compiled once by
 * the OPA CLI, with the same capabilities as user policies, into wasm for libs/policy-runtime)
 * evaluated over the current set as data. A change of the set rebuilds the data after
 * POLICY_AUTHZ_DEBOUNCE; if a rebuild fails the last good data stays in use.
 */
@Injectable()
export class AuthorizationEngine implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('IstioAuthz');
  private runtime?: PolicyRuntime;
  private compiled?: { at: Date; opaVersion: string; capabilitiesSha256: string };
  private built?: Built;
  private compileError: string | null = null;
  private buildError: string | null = null;
  private debounce?: NodeJS.Timeout;
  private retry?: NodeJS.Timeout;
  private retryMs = COMPILE_RETRY_MIN_MS;
  private stopped = false;

  constructor(
    @Inject(POLICY_COMPILER) private readonly compiler: PolicyCompiler,
    @Inject(AuthorizationPolicySet) private readonly set: AuthorizationPolicySet,
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(AuthorizationMetrics) private readonly metrics: AuthorizationMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.set.onChange(() => this.scheduleRebuild());
    void this.compile();
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.debounce);
    clearTimeout(this.retry);
  }

  /** What the status endpoint reports about the module and the data in use. */
  get status() {
    return {
      compiledAt: this.compiled?.at.toISOString() ?? null,
      opaVersion: this.compiled?.opaVersion ?? null,
      capabilitiesSha256: this.compiled?.capabilitiesSha256 ?? null,
      compileError: this.compileError,
      dataVersion: this.built?.version ?? null,
      dataBuiltAt: this.built?.builtAt.toISOString() ?? null,
      buildError: this.buildError,
      policies: this.built?.policies.length ?? 0,
      findings: this.built?.findings ?? [],
    };
  }

  /** The findings of the rule `ruleIndex` of `policy` in the data in use. */
  findingsFor(policy: string, ruleIndex: number | null): Finding[] {
    const rule = `spec.rules[${ruleIndex}]`;
    return (this.built?.findings ?? []).filter(
      (f) => f.policy === policy && (ruleIndex === null || f.path === rule || f.path.startsWith(`${rule}.`)),
    );
  }

  /**
   * Decides `input` against the set in use. Throws AuthorizationNotReady before the module has
   * compiled or the first set arrived; an evaluation failure is a denial (fail closed).
   */
  decide(input: Record<string, unknown>): { decision: AuthorizationDecision; durationMicros: number } {
    if (!this.runtime) throw new AuthorizationNotReady('the authorization module has not compiled yet');
    if (!this.built) throw new AuthorizationNotReady('no AuthorizationPolicy set has been received from Galley yet');
    const evaluation = this.runtime.evaluate(input);
    const result = evaluation.result as AuthorizationDecision | undefined;
    if (evaluation.decision.error || !result) {
      const message = evaluation.decision.error?.message ?? 'no decision';
      this.logger.warn({ msg: 'denied: the authorization module did not decide', reason: message });
      this.metrics.decided('DENY', 'error');
      return { decision: failClosed(`evaluation failed: ${message}`), durationMicros: evaluation.durationMicros };
    }
    this.metrics.decided(result.action, decidedBy(result));
    return { decision: result, durationMicros: evaluation.durationMicros };
  }

  private async compile(): Promise<void> {
    try {
      const compiled = await this.compiler.compile({
        modules: { 'istio_authz.rego': ISTIO_AUTHZ_REGO },
        entrypoints: [ISTIO_AUTHZ_ENTRYPOINT],
      });
      const runtime = await PolicyRuntime.load(compiled.wasm, {
        entrypoint: ISTIO_AUTHZ_ENTRYPOINT,
        data: { istio: { policies: this.built?.policies ?? [] } },
        now: () => this.clock.now(),
      });
      this.runtime = runtime;
      this.compiled = { at: this.clock.now(), ...compiled };
      this.compileError = null;
      this.logger.log({ msg: 'Istio authorization module compiled', opaVersion: compiled.opaVersion });
      if (this.set.state.synced) this.rebuild();
    } catch (error) {
      this.compileError = error instanceof Error ? error.message : String(error);
      this.logger.error({ msg: 'cannot compile the Istio authorization module; retrying', reason: this.compileError });
      if (this.stopped) return;
      this.retry = setTimeout(() => void this.compile(), this.retryMs);
      this.retryMs = Math.min(COMPILE_RETRY_MAX_MS, this.retryMs * 2);
    }
  }

  private scheduleRebuild(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.rebuild(), this.config.authzDebounce);
  }

  /** Normalises the set into data and installs it; on failure the previous data stays. */
  private rebuild(): void {
    const state = this.set.state;
    if (!state.synced || state.version === null) return;
    try {
      const policies: NormalPolicy[] = [];
      const findings: Finding[] = [];
      for (const resource of state.policies) {
        const normal = normalisePolicy(resource, this.config.rootNamespace);
        if (normal.policy) policies.push(normal.policy);
        findings.push(...normal.findings);
      }
      this.runtime?.setData({ istio: { policies } });
      this.built = { version: state.version, builtAt: this.clock.now(), policies, findings };
      this.buildError = null;
      this.metrics.setInUse(state.version, policies.length, findings.length);
      this.logger.log({ msg: 'AuthorizationPolicy set in use', version: state.version, policies: policies.length });
    } catch (error) {
      this.buildError = error instanceof Error ? error.message : String(error);
      this.logger.error({
        msg: 'cannot use the new AuthorizationPolicy set; the last good one stays',
        version: state.version,
        reason: this.buildError,
      });
    }
  }
}

function decidedBy(decision: AuthorizationDecision): DecidedBy {
  if (decision.policy !== null) return decision.action === 'DENY' ? 'deny_policy' : 'allow_policy';
  return decision.allowed ? 'no_allow_policy' : 'no_allow_match';
}

function failClosed(reason: string): AuthorizationDecision {
  return {
    allowed: false,
    action: 'DENY',
    reason,
    policy: null,
    ruleIndex: null,
    audit: false,
    auditPolicies: [],
    custom: [],
    dryRun: [],
    applicable: [],
  };
}
