import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import { istioAttributes, PolicyRuntime } from '#libs/policy-runtime';
import type { PolicyConfig } from '../config';
import { AuthorizationMetrics, type DecidedBy } from './authorization.metrics';
import { AuthorizationNotReady } from './errors';
import { IstioAuthzCompiler } from './istio-authz.compiler';
import { type Finding, type NormalPolicy, normalisePolicy } from './normalise';
import { AuthorizationPolicySet } from './policy-set';

const COMPILE_RETRY_MIN_MS = 1_000;
const COMPILE_RETRY_MAX_MS = 30_000;

/** The module in use: generated from one version of the set, compiled and loaded. */
interface InUse {
  runtime: PolicyRuntime;
  /** The request headers the module reads (the only ones its input carries). */
  headers: string[];
  version: number;
  builtAt: Date;
  policies: NormalPolicy[];
  findings: Finding[];
  compiled: { at: Date; opaVersion: string; capabilitiesSha256: string };
}

/** One decision as the generated module makes it (see generateIstioAuthz), or a fail-closed denial. */
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
 * Istio AuthorizationPolicies on the policy engine: each version of the set is generated into
 * its own Rego module (generateIstioAuthz), compiled by the OPA CLI with the same capabilities
 * as user policies into wasm for libs/policy-runtime, and swapped in whole. A change of the set
 * rebuilds after POLICY_AUTHZ_DEBOUNCE; if a rebuild fails the last good module stays in use and
 * the rebuild is retried with backoff.
 */
@Injectable()
export class AuthorizationEngine implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('IstioAuthz');
  private inUse?: InUse;
  private compileError: string | null = null;
  private buildError: string | null = null;
  private debounce?: NodeJS.Timeout;
  private retry?: NodeJS.Timeout;
  private retryMs = COMPILE_RETRY_MIN_MS;
  private building = false;
  private buildAgain = false;
  private stopped = false;

  constructor(
    @Inject(IstioAuthzCompiler) private readonly compiler: IstioAuthzCompiler,
    @Inject(AuthorizationPolicySet) private readonly set: AuthorizationPolicySet,
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(AuthorizationMetrics) private readonly metrics: AuthorizationMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.set.onChange(() => this.scheduleRebuild());
    void this.rebuild();
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.debounce);
    clearTimeout(this.retry);
  }

  /** What the status endpoint reports about the module and the set in use. */
  get status() {
    const inUse = this.inUse;
    return {
      compiledAt: inUse?.compiled.at.toISOString() ?? null,
      opaVersion: inUse?.compiled.opaVersion ?? null,
      capabilitiesSha256: inUse?.compiled.capabilitiesSha256 ?? null,
      compileError: this.compileError,
      dataVersion: inUse?.version ?? null,
      dataBuiltAt: inUse?.builtAt.toISOString() ?? null,
      buildError: this.buildError,
      policies: inUse?.policies.length ?? 0,
      findings: inUse?.findings ?? [],
    };
  }

  /** The findings of the rule `ruleIndex` of `policy` in the set in use. */
  findingsFor(policy: string, ruleIndex: number | null): Finding[] {
    const rule = `spec.rules[${ruleIndex}]`;
    return (this.inUse?.findings ?? []).filter(
      (f) => f.policy === policy && (ruleIndex === null || f.path === rule || f.path.startsWith(`${rule}.`)),
    );
  }

  /**
   * Decides `input` (the opa-envoy-plugin document of check-input.ts) against the set in use.
   * Throws AuthorizationNotReady before a first set has arrived and compiled; an evaluation
   * failure is a denial (fail closed).
   */
  decide(input: Record<string, unknown>): { decision: AuthorizationDecision; durationMicros: number } {
    const inUse = this.inUse;
    if (!inUse) {
      throw new AuthorizationNotReady(
        this.set.state.synced
          ? 'the authorization module has not compiled yet'
          : 'no AuthorizationPolicy set has been received from Galley yet',
      );
    }
    const evaluation = inUse.runtime.evaluate(istioAttributes(input, inUse.headers));
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

  private scheduleRebuild(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.rebuild(), this.config.authzDebounce);
  }

  /** Builds the current set; a change during a build builds again once it is done. */
  private async rebuild(): Promise<void> {
    if (this.building) {
      this.buildAgain = true;
      return;
    }
    this.building = true;
    try {
      do {
        this.buildAgain = false;
        await this.build();
      } while (this.buildAgain && !this.stopped);
    } finally {
      this.building = false;
    }
  }

  /** Normalises, generates, compiles and loads the set; on failure the previous module stays. */
  private async build(): Promise<void> {
    const state = this.set.state;
    if (!state.synced || state.version === null || state.version === this.inUse?.version) return;
    let compiling = false;
    try {
      const policies: NormalPolicy[] = [];
      const findings: Finding[] = [];
      for (const resource of state.policies) {
        const normal = normalisePolicy(resource, this.config.rootNamespace);
        if (normal.policy) policies.push(normal.policy);
        findings.push(...normal.findings);
      }
      compiling = true;
      const compiled = await this.compiler.compile(policies);
      compiling = false;
      const runtime = await PolicyRuntime.load(compiled.wasm, {
        entrypoint: compiled.entrypoint,
        now: () => this.clock.now(),
      });
      const now = this.clock.now();
      const { opaVersion, capabilitiesSha256 } = compiled;
      this.inUse = {
        runtime,
        headers: compiled.headers,
        version: state.version,
        builtAt: now,
        policies,
        findings,
        compiled: { at: now, opaVersion, capabilitiesSha256 },
      };
      this.compileError = null;
      this.buildError = null;
      this.retryMs = COMPILE_RETRY_MIN_MS;
      this.metrics.setInUse(state.version, policies.length, findings.length);
      this.logger.log({ msg: 'AuthorizationPolicy set in use', version: state.version, policies: policies.length });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (compiling) this.compileError = reason;
      this.buildError = reason;
      this.logger.error({
        msg: 'cannot use the new AuthorizationPolicy set; the last good one stays (retrying)',
        version: state.version,
        reason,
      });
      if (this.stopped) return;
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.rebuild(), this.retryMs);
      this.retryMs = Math.min(COMPILE_RETRY_MAX_MS, this.retryMs * 2);
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
