import type { IstioAttributes } from './istio-attributes';

/**
 * The tests a generated AuthorizationPolicy module applies to a request value (Istio's string
 * matching: exact, prefix, suffix, presence; CIDR for addresses), as the policy service lists
 * them in a bundle (`istio.matchers`). A module reads an attribute or header only through its
 * tests, so two values passing the same tests get the same decision: a proxy can keep one
 * decision for a whole class of requests (`/items/1`, `/items/2`, ... under `prefix: /items/`).
 */
export interface IstioMatcher {
  kind: 'exact' | 'prefix' | 'suffix' | 'presence' | 'cidr';
  /** As the module holds it (lone surrogates, which Rego cannot hold, are U+FFFD). */
  value: string;
}

/** Every test a module applies, by attribute (istioAttributes keys) and by request header (lower-case). */
export interface IstioMatchers {
  attributes: Record<string, IstioMatcher[]>;
  headers: Record<string, IstioMatcher[]>;
}

/** Whether `value` passes `matcher` as the generated Rego decides it; undefined for a test this cannot decide (CIDR). */
export function matcherHolds(matcher: IstioMatcher, value: string): boolean | undefined {
  switch (matcher.kind) {
    case 'exact':
      return value === matcher.value;
    case 'prefix':
      return value.startsWith(matcher.value);
    case 'suffix':
      return value.endsWith(matcher.value);
    case 'presence':
      return value !== '';
    case 'cidr':
      return undefined;
  }
}

/** One part of a key: its length, then the text (`-` for none), so no two sequences of parts read alike. */
export function keyPart(value: string | undefined): string {
  return value === undefined ? '-' : `${value.length}:${value}`;
}

/** One value a module reads, and the tests it applies to it (null: the value itself decides). */
export interface KeyedValue {
  readonly attribute?: string;
  readonly header?: string;
  readonly tests: readonly IstioMatcher[] | null;
}

/** The proxy's own attributes: the same for every request it decides. */
const LOCAL_ATTRIBUTES = new Set(['destination.namespace', 'destination.labels']);

/**
 * What `matcherKey` reads, for a bundle whose module reads `attributes` and `headers` and
 * applies `matchers` to them: a value with string tests only is keyed by their outcomes, any
 * other (CIDR tests, none listed) by itself. The destination's namespace and labels are left
 * out: a key is for one proxy's decisions, and they are that proxy's own.
 */
export function matcherKeyPlan(
  attributes: readonly string[],
  headers: readonly string[],
  matchers: IstioMatchers,
): KeyedValue[] {
  const tests = (table: Record<string, IstioMatcher[]>, name: string) => {
    const list = Object.hasOwn(table, name) ? table[name] : undefined;
    return list && list.length > 0 && list.every((m) => m.kind !== 'cidr') ? list : null;
  };
  return [
    ...attributes
      .filter((attribute) => !LOCAL_ATTRIBUTES.has(attribute))
      .map((attribute) => ({ attribute, tests: tests(matchers.attributes, attribute) })),
    ...headers.map((header) => ({ header, tests: tests(matchers.headers, header) })),
  ];
}

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * A key for the module's decision on `attributes` (a request's module input) that is the same
 * for every input passing the same tests: the module reads each value only through the tests
 * its bundle lists (Istio's exact, prefix, suffix and presence matching), so inputs with the
 * same key get the same decision, and `/items/1`, `/items/2`, ... share one kept decision under
 * `prefix: /items/`. A value with other tests, with none listed, or with non-ASCII text (where
 * Rego's byte strings and JavaScript's UTF-16 could disagree) is keyed by itself.
 */
export function matcherKey(attributes: IstioAttributes, plan: readonly KeyedValue[]): string {
  let key = '';
  for (const { attribute, header, tests } of plan) {
    const values = (header === undefined ? attributes : attributes['request.headers']) as Record<string, unknown>;
    const name = header ?? attribute!;
    const raw = Object.hasOwn(values, name) ? values[name] : undefined;
    if (raw === undefined) {
      key += '-';
      continue;
    }
    const value = typeof raw === 'string' ? raw : JSON.stringify(raw);
    if (tests === null || NON_ASCII.test(value)) {
      key += keyPart(value);
      continue;
    }
    key += '+';
    for (const test of tests) key += matcherHolds(test, value) ? '1' : '0';
  }
  return key;
}
