import type { IstioMatchers, IstioOutcome } from '#libs/policy-runtime';
import { ISTIO_AUTHZ_ENTRYPOINT } from './istio-authz.rego';
import type { Condition, Matcher, NormalPolicy, NormalRule } from './normalise';

/** What the decision of a generated module holds, and what it checks at request time. */
export interface AuthzCodegenOptions {
  /**
   * Whether the decision lists the policies that apply to the workload (`applicable`; default
   * true, for explanations). Proxy bundles leave it out: the proxy never reads it, and building
   * and dumping it is a good part of a decision's cost. Nothing else in the decision changes.
   */
  applicable?: boolean;
  /**
   * Proxy bundles: the decision is the compact array of libs/policy-runtime
   * `expandIstioDecision`, indexing `outcomes`, instead of the object (no `applicable` list).
   * Expanded, it is the object field for field.
   */
  compact?: boolean;
  /**
   * Whether each policy's namespace and selector are checked against the request's
   * `destination.namespace` and `destination.labels` (default true). False only for a set that
   * holds exactly the policies applying to one workload (`policiesFor` with its namespace and
   * labels): every policy then applies, and the module neither checks nor reads the scope.
   */
  scoped?: boolean;
}

/** One AuthorizationPolicy set as its own Rego module (see `generateIstioAuthz`). */
export interface GeneratedAuthzModule {
  /** The module's source (package `bowline.istio.authz`, decision ISTIO_AUTHZ_ENTRYPOINT). */
  rego: string;
  entrypoint: string;
  /** The request headers (lower-cased) a condition reads: the only ones its input needs. */
  headers: string[];
  /** The attributes (istioAttributes keys) the module reads, `request.headers` apart: the only ones its input needs. */
  attributes: string[];
  /** With `compact`: the outcome table its decisions index; otherwise empty. */
  outcomes: IstioOutcome[];
  /**
   * Every test a condition applies, by attribute and by header: the module reads a value only
   * through these (scope attributes and list attributes apart, which have none listed).
   */
  matchers: IstioMatchers;
}

/**
 * Attributes holding a list of strings (every other attribute is one string): a condition on
 * them holds when any element matches.
 */
const LIST_ATTRIBUTES: Record<string, (param: string[]) => string> = {
  'request.auth.audiences': () => 'input["request.auth.audiences"]',
  'request.auth.claims': (param) => `strings(object.get(input["request.auth.claims"], ${literal(param)}, null))`,
};

/** Claims are any JSON: a string is a list of one, other values are skipped (as in ISTIO_AUTHZ_REGO). */
const STRINGS = `strings(v) := [v] if is_string(v)

strings(v) := [s | some s in v; is_string(s)] if is_array(v)`;

/** A string as Rego holds it: lone surrogates, which Rego cannot hold, become U+FFFD. */
function regoText(value: string): string {
  return value.replace(/\p{Surrogate}/gu, '\uFFFD');
}

/** A Rego string (or array of strings) literal, of the text Rego holds (regoText). */
function literal(value: string | string[]): string {
  if (Array.isArray(value)) return `[${value.map((v) => literal(v)).join(', ')}]`;
  return JSON.stringify(regoText(value));
}

function matchExpression(m: Matcher, value: string): string {
  switch (m.kind) {
    case 'exact':
      return `${value} == ${literal(m.value)}`;
    case 'prefix':
      return `startswith(${value}, ${literal(m.value)})`;
    case 'suffix':
      return `endswith(${value}, ${literal(m.value)})`;
    case 'presence':
      return `${value} != ""`;
    case 'cidr':
      return `net.cidr_contains(${literal(m.value)}, ${value})`;
  }
}

const indent = (body: string[]) => body.map((line) => `\t${line}`);

/** Emits the rules of one policy set; helpers are named `p<policy>_r<rule>[_from<k>|_to<k>|_when<i>]...`. */
class Emitter {
  readonly lines: string[] = [];
  readonly headers = new Set<string>();
  readonly attributes = new Set<string>();
  readonly matchers: IstioMatchers = { attributes: {}, headers: {} };

  constructor(readonly scoped: boolean) {}

  /** A boolean rule holding when any of `bodies` holds. */
  rule(head: string, bodies: string[][]): void {
    for (const body of bodies) {
      if (body.length <= 1) this.lines.push(`${head} if ${body[0] ?? 'true'}`, '');
      else this.lines.push(`${head} if {`, ...indent(body), '}', '');
    }
  }

  /**
   * The condition as body literals: one comparison inlined, several as a helper rule with one
   * body per matcher (any may match). An absent attribute matches no matcher, so a negated
   * condition on it holds (`not <helper>`), as in Istio.
   */
  condition(c: Condition, name: string): string[] {
    if (c.values.length === 0) return c.negate ? [] : ['false'];
    const not = c.negate ? 'not ' : '';
    const list = LIST_ATTRIBUTES[c.attr];
    if (c.attr !== 'request.headers') this.attributes.add(c.attr);
    if (list) {
      this.rule(
        name,
        c.values.map((m) => [`some v in ${list(c.param)}`, matchExpression(m, 'v')]),
      );
      return [`${not}${name}`];
    }
    if (c.attr === 'request.headers') this.headers.add(c.param[0]);
    this.test(c);
    const value =
      c.attr === 'request.headers' ? `input["request.headers"][${literal(c.param[0])}]` : `input[${literal(c.attr)}]`;
    const exact = c.values.filter((m) => m.kind === 'exact').map((m) => m.value);
    const others = c.values.filter((m) => m.kind !== 'exact').map((m) => matchExpression(m, value));
    const tests = [
      ...(exact.length > 1 ? [`${value} in {${exact.map((v) => literal(v)).join(', ')}}`] : []),
      ...others,
    ];
    if (exact.length === 1) tests.unshift(matchExpression({ kind: 'exact', value: exact[0] }, value));
    // OPA hoists the arguments of a call out of `not` (`not startswith(input.x, ...)` is
    // undefined, not true, without `input.x`): only an equality is negated in place.
    const equality = exact.length === 1 && tests.length === 1;
    if (tests.length === 1 && (!c.negate || equality)) return [`${not}${tests[0]}`];
    this.rule(
      name,
      tests.map((test) => [test]),
    );
    return [`${not}${name}`];
  }

  /** Lists the matchers of a condition on one string value (what `condition` compares it with). */
  private test(c: Condition): void {
    const byName = c.attr === 'request.headers' ? this.matchers.headers : this.matchers.attributes;
    const name = c.attr === 'request.headers' ? c.param[0] : c.attr;
    const listed = (byName[name] ??= []);
    for (const m of c.values) {
      const value = regoText(m.value);
      if (!listed.some((l) => l.kind === m.kind && l.value === value)) listed.push({ kind: m.kind, value });
    }
  }

  /** `from` / `to`: any clause whose conditions all hold; none given: no constraint. */
  clauses(list: Condition[][], name: string): string[] {
    if (list.length === 0) return [];
    const bodies = list.map((clause, k) => clause.flatMap((c, i) => this.condition(c, `${name}${k}_c${i}`)));
    if (bodies.length === 1) return bodies[0];
    this.rule(name, bodies);
    return [name];
  }

  /**
   * The body literals of `rule` (its helpers emitted under `name`): all hold when it matches;
   * null for a rule that never does, `[]` for one that always does.
   */
  matchRule(rule: NormalRule, name: string): string[] | null {
    if (rule.force === 'never') return null;
    if (rule.force === 'match') return [];
    return [
      ...this.clauses(rule.from, `${name}_from`),
      ...this.clauses(rule.to, `${name}_to`),
      ...rule.when.flatMap((c, i) => this.condition(c, `${name}_when${i}`)),
    ];
  }

  /**
   * `p<i>_applies` (namespace and selector scope, when scoped) and, when a rule can match,
   * `p<i>_first` (the index of the first matching rule). Returns whether the policy can match at all.
   */
  policy(p: NormalPolicy, i: number): boolean {
    this.lines.push(`# ${p.id}: ${p.action}${p.dryRun ? ' (dry-run)' : ''}`, '');
    if (this.scoped) {
      const scope = p.mesh ? [] : [`input["destination.namespace"] == ${literal(p.namespace)}`];
      const selector = Object.entries(p.selector).map(
        ([k, v]) => `input["destination.labels"][${literal(k)}] == ${literal(v)}`,
      );
      if (scope.length > 0) this.attributes.add('destination.namespace');
      if (selector.length > 0) this.attributes.add('destination.labels');
      this.rule(`p${i}_applies`, [[...scope, ...selector]]);
    }
    // Each rule's body sits in the chain itself (a rule of its own would be one more call and memo entry).
    const matching = p.rules.flatMap((rule, j) => {
      const body = this.matchRule(rule, `p${i}_r${j}`);
      return body === null ? [] : [{ value: String(j), body }];
    });
    if (matching.length === 0) return false;
    this.lines.push(...elseChain(`p${i}_first`, matching));
    return true;
  }

  /** The literals holding when policy `i` applies (always, unscoped): the scope check, or none. */
  applies(i: number): string[] {
    return this.scoped ? [`p${i}_applies`] : [];
  }

  /** Policy `i` applies and matched: `j` is its first matching rule. */
  hit(i: number): string[] {
    return [...this.applies(i), `j := p${i}_first`];
  }
}

/** `head := v0 if {...} else := v1 if {...} else := v2`: the first step whose body holds decides. */
function elseChain(head: string, steps: { value: string; body: string[] }[]): string[] {
  const out: string[] = [];
  steps.forEach(({ value, body }, k) => {
    const start = k === 0 ? `${head} :=` : `${out.pop()} else :=`;
    if (body.length === 0 && k === steps.length - 1) out.push(`${start} ${value}`);
    else out.push(`${start} ${value} if {`, ...indent(body.length > 0 ? body : ['true']), '}');
  });
  return [...out, ''];
}

/** The decision's lists when no AUDIT, CUSTOM or dry-run policy can add to them. */
const EMPTY_LISTS = ', "audit": false, "auditPolicies": [], "custom": [], "dryRun": []';

interface Indexed {
  p: NormalPolicy;
  i: number;
}

/**
 * The verdict values a module returns: the object (`extra`: constant fields appended to every
 * verdict, `, "k": v, ...`, or ""), or with `compact` the array `[outcome, ruleIndex]` indexing
 * `outcomes` (libs/policy-runtime expandIstioDecision).
 */
class Verdicts {
  readonly outcomes: IstioOutcome[] = [];
  private readonly indexes = new Map<string, number>();

  constructor(
    private readonly compact: boolean,
    private readonly extra: string,
  ) {}

  /** The value of a verdict reached by `policy` (its first matching rule bound to `j`), or by no policy (null). */
  value(allowed: boolean, reason: string, policy: string | null): string {
    if (!this.compact) {
      return (
        `{"allowed": ${allowed}, "action": "${allowed ? 'ALLOW' : 'DENY'}", "reason": ${literal(reason)}, ` +
        `"policy": ${policy === null ? 'null' : literal(policy)}, "ruleIndex": ${policy === null ? 'null' : 'j'}${this.extra}}`
      );
    }
    const key = JSON.stringify([allowed, reason, policy]);
    let index = this.indexes.get(key);
    if (index === undefined) {
      index = this.outcomes.push({ allowed, reason, policy }) - 1;
      this.indexes.set(key, index);
    }
    return `[${index}, ${policy === null ? '-1' : 'j'}]`;
  }
}

/**
 * The verdict, in Istio's order: the enforced DENY policies (in set order, the first hit
 * decides), then no applicable ALLOW policy (allow), then the ALLOW policies, else deny.
 * Unscoped, every ALLOW policy of the set applies.
 */
function verdict(emit: Emitter, enforced: Indexed[], canMatch: Set<number>, values: Verdicts): string[] {
  const deny = enforced.filter(({ p, i }) => p.action === 'DENY' && canMatch.has(i));
  const allow = enforced.filter(({ p }) => p.action === 'ALLOW');
  const { scoped } = emit;
  const steps = deny.map(({ p, i }) => ({
    value: values.value(false, 'a DENY policy matched', p.id),
    body: emit.hit(i),
  }));
  const none = () => values.value(true, 'no ALLOW policy applies to the workload', null);
  if (allow.length === 0) return elseChain('verdict', [...steps, { value: none(), body: [] }]);
  if (scoped) steps.push({ value: none(), body: ['not any_allow'] });
  for (const { p, i } of allow.filter(({ i }) => canMatch.has(i))) {
    steps.push({ value: values.value(true, 'an ALLOW policy matched', p.id), body: emit.hit(i) });
  }
  steps.push({ value: values.value(false, 'ALLOW policies apply to the workload but none matched', null), body: [] });
  if (!scoped) return elseChain('verdict', steps);
  // An else-chain stops at the first applicable ALLOW policy (several bodies would all be evaluated).
  const anyAllow = elseChain(
    'any_allow',
    allow.map(({ i }) => ({ value: 'true', body: emit.applies(i) })),
  );
  return [...elseChain('verdict', steps), ...anyAllow];
}

/**
 * `name := [...]`: the entries of a partial set `<name>_set` (objects with a `policy` field),
 * in the order of `ids` (set order). Each member's body binds `entry`.
 */
function orderedList(name: string, members: { id: string; body: string[] }[]): string[] {
  if (members.length === 0) return [`${name} := []`, ''];
  const ids = literal(members.map((m) => m.id));
  // The partial set is read through a complete copy: OPA's own evaluator would evaluate it again per id.
  const out = [`${name} := [e | some id in ${ids}; some e in ${name}_all; e.policy == id]`, ''];
  out.push(`${name}_all := {e | some e in ${name}_set}`, '');
  for (const { body } of members) out.push(`${name}_set contains entry if {`, ...indent(body), '}', '');
  return out;
}

/**
 * Istio AuthorizationPolicy semantics specialised to one set: every policy and rule becomes
 * concrete Rego with its constants inlined, instead of ISTIO_AUTHZ_REGO interpreting the set as
 * data. The input is the flat attribute document of libs/policy-runtime `istioAttributes`. The
 * decision is the reference's, field for field (the deciding policy and rule index, AUDIT and
 * CUSTOM hits, dry-run entries, applicable policies unless `options` leave them out), or its
 * compact form for proxy bundles; istio-authz.spec.ts checks that all of them decide alike.
 *
 * `policies` must be in set order (sorted by `<namespace>/<name>`): it decides which DENY or
 * ALLOW policy is reported when several match, and the order of every list.
 */
export function generateIstioAuthz(policies: NormalPolicy[], options: AuthzCodegenOptions = {}): GeneratedAuthzModule {
  const compact = options.compact === true;
  const emit = new Emitter(options.scoped !== false);
  const canMatch = new Set<number>();
  policies.forEach((p, i) => {
    if (emit.policy(p, i)) canMatch.add(i);
  });
  const indexed = policies.map((p, i) => ({ p, i }));
  const enforced = indexed.filter(({ p }) => !p.dryRun);
  const hits = (action: string) =>
    enforced
      .filter(({ p, i }) => p.action === action && canMatch.has(i))
      .map(({ p, i }) => ({
        id: p.id,
        body: [...emit.hit(i), `entry := {"policy": ${literal(p.id)}, "ruleIndex": j}`],
      }));
  const dryRun = indexed
    .filter(({ p }) => p.dryRun)
    .map(({ p, i }) => {
      const entry = (j: string) =>
        `{"policy": ${literal(p.id)}, "action": ${literal(p.action)}, "matched": ${j !== 'null'}, "ruleIndex": ${j}}`;
      const steps = canMatch.has(i) ? [{ value: entry('j'), body: [`j := p${i}_first`] }] : [];
      emit.lines.push(...elseChain(`p${i}_dry_run`, [...steps, { value: entry('null'), body: [] }]));
      return { id: p.id, body: [...emit.applies(i), `entry := p${i}_dry_run`] };
    });
  const listApplicable = options.applicable !== false && !compact;
  const applicable = !listApplicable
    ? []
    : policies.length === 0
      ? ['applicable := []', '']
      : [
          `applicable := [id | some id in ${literal(policies.map((p) => p.id))}; applicable_all[id]]`,
          '',
          'applicable_all := {id | some id in applicable_ids}',
          '',
          ...indexed.flatMap(({ p, i }) => [
            `applicable_ids contains ${literal(p.id)} if ${emit.applies(i)[0] ?? 'true'}`,
            '',
          ]),
        ];
  const auditHits = hits('AUDIT');
  const customHits = hits('CUSTOM');
  // Without AUDIT, CUSTOM or dry-run entries and the applicable list, every field but the
  // verdict's is constant: the verdicts carry them, and no object.union runs per decision.
  const constant = auditHits.length === 0 && customHits.length === 0 && dryRun.length === 0 && !listApplicable;
  const values = new Verdicts(compact, constant ? EMPTY_LISTS : '');
  const verdictRules = verdict(emit, enforced, canMatch, values);
  const lists = [
    ...orderedList('audit_hits', auditHits),
    ...orderedList('custom_hits', customHits),
    ...orderedList('dry_run', dryRun),
  ];
  const dynamicDecision = compact
    ? [...verdictRules, ...lists, 'decision := [verdict[0], verdict[1], audit_hits, custom_hits, dry_run]', '']
    : [
        ...verdictRules,
        ...lists,
        ...applicable,
        'decision := object.union(verdict, {',
        '\t"audit": count(audit_hits) > 0,',
        '\t"auditPolicies": audit_hits,',
        '\t"custom": custom_hits,',
        '\t"dryRun": dry_run,',
        ...(listApplicable ? ['\t"applicable": applicable,'] : []),
        '})',
        '',
      ];
  const rego = [
    'package bowline.istio.authz',
    '',
    `# Generated by Bowline from ${policies.length} AuthorizationPolicies (istio-authz.codegen.ts).`,
    '# input: the request attributes of libs/policy-runtime istioAttributes().',
    '',
    STRINGS,
    '',
    ...emit.lines,
    ...(constant ? [...verdictRules, 'decision := verdict', ''] : dynamicDecision),
  ].join('\n');
  return {
    rego,
    entrypoint: ISTIO_AUTHZ_ENTRYPOINT,
    headers: [...emit.headers].sort(),
    attributes: [...emit.attributes].sort(),
    outcomes: values.outcomes,
    matchers: emit.matchers,
  };
}
