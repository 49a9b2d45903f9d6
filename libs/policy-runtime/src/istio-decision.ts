/**
 * The decision of a generated Istio AuthorizationPolicy module (apps/policy
 * istio-authz.codegen.ts), and its compact form in proxy bundles.
 *
 * Every verdict a module can reach is known when it is generated: whether it allows, why, and
 * which policy decided. A proxy bundle's module therefore answers with a short array that
 * indexes its table of outcomes (`istio.outcomes` in the bundle) instead of building and
 * dumping the whole object per request, and `expandIstioDecision` turns it back into the
 * object the policy service's module returns (without its `applicable` list).
 */

/** One verdict a module can reach: its entry in the outcome table. */
export interface IstioOutcome {
  allowed: boolean;
  reason: string;
  /** `<namespace>/<name>` of the deciding policy; null when no policy decided. */
  policy: string | null;
}

export interface IstioRuleHit {
  policy: string;
  ruleIndex: number;
}

export interface IstioDryRunEntry {
  policy: string;
  action: string;
  matched: boolean;
  ruleIndex: number | null;
}

/** The decision object: the verdict, the deciding policy and rule, AUDIT and CUSTOM hits, dry-run entries. */
export interface IstioDecision extends IstioOutcome {
  action: 'ALLOW' | 'DENY';
  ruleIndex: number | null;
  audit: boolean;
  auditPolicies: IstioRuleHit[];
  custom: IstioRuleHit[];
  dryRun: IstioDryRunEntry[];
}

/**
 * The compact decision: `[outcome, ruleIndex]` (`ruleIndex` -1 when no rule decided), or
 * `[outcome, ruleIndex, auditPolicies, custom, dryRun]` for a set with AUDIT, CUSTOM or dry-run
 * policies. Anything else, or an outcome outside `outcomes`, gives undefined (the caller denies).
 */
export function expandIstioDecision(compact: unknown, outcomes: readonly IstioOutcome[]): IstioDecision | undefined {
  if (!Array.isArray(compact) || (compact.length !== 2 && compact.length !== 5)) return undefined;
  const [index, rule] = compact as unknown[];
  const outcome = typeof index === 'number' ? outcomes[index] : undefined;
  if (outcome === undefined || typeof rule !== 'number') return undefined;
  const lists = compact.length === 5 ? (compact.slice(2) as unknown[]) : undefined;
  if (lists && !lists.every(Array.isArray)) return undefined;
  const [auditPolicies, custom, dryRun] = (lists ?? [[], [], []]) as [
    IstioRuleHit[],
    IstioRuleHit[],
    IstioDryRunEntry[],
  ];
  return {
    allowed: outcome.allowed,
    action: outcome.allowed ? 'ALLOW' : 'DENY',
    reason: outcome.reason,
    policy: outcome.policy,
    ruleIndex: rule < 0 ? null : rule,
    audit: auditPolicies.length > 0,
    auditPolicies,
    custom,
    dryRun,
  };
}
