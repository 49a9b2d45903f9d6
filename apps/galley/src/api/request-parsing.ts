import { BowlineError, type FieldProblem, Kinds } from '#libs/errors';
import { isKind, KINDS, type Kind, type ResourceKey } from '../resources/kinds';
import { dnsLabelProblem, dnsSubdomainProblem } from '../resources/names';
import { parseLabelSelector } from '../store/label-selector';
import type { ResourceFilter } from '../store/resource.reader';

/** Kinds in URLs are case-insensitive and may be plural (`virtualservices`), as kubectl accepts. */
export function parseKindParam(value: string): Kind {
  const lower = value.toLowerCase();
  const kind = Object.keys(KINDS).find((k) => {
    const name = k.toLowerCase();
    return lower === name || lower === `${name}s` || lower === `${name}es` || lower === `${name.slice(0, -1)}ies`;
  });
  if (!kind || !isKind(kind)) {
    throw invalid([
      { path: 'kind', message: `unknown kind "${value}": expected one of ${Object.keys(KINDS).join(', ')}` },
    ]);
  }
  return kind;
}

export function parseKey(kind: string, namespace: string, name: string): ResourceKey {
  const problems: FieldProblem[] = [];
  const namespaceProblem = dnsLabelProblem(namespace);
  if (namespaceProblem) problems.push({ path: 'namespace', message: namespaceProblem });
  const nameProblem = dnsSubdomainProblem(name);
  if (nameProblem) problems.push({ path: 'name', message: nameProblem });
  const parsedKind = parseKindParam(kind);
  if (problems.length > 0) throw invalid(problems);
  return { kind: parsedKind, namespace, name };
}

const LIST_PARAMETERS = ['kind', 'namespace', 'labelSelector'];

export function parseListQuery(query: unknown, kind?: Kind, namespace?: string): ResourceFilter {
  const input = record(query);
  const problems: FieldProblem[] = Object.keys(input)
    .filter((key) => !LIST_PARAMETERS.includes(key))
    .map((path) => ({ path, message: 'unknown query parameter' }));
  const filter: { kinds?: Kind[]; namespace?: string; selector?: ReturnType<typeof parseLabelSelector> } = {};
  const kindParam = kind ?? (input.kind ? parseKindParam(String(input.kind)) : undefined);
  if (kindParam) filter.kinds = [kindParam];
  const ns = namespace ?? (input.namespace ? String(input.namespace) : undefined);
  if (ns !== undefined) {
    const problem = dnsLabelProblem(ns);
    if (problem) problems.push({ path: 'namespace', message: problem });
    filter.namespace = ns;
  }
  if (typeof input.labelSelector === 'string' && input.labelSelector !== '') {
    try {
      filter.selector = parseLabelSelector(input.labelSelector);
    } catch (error) {
      problems.push({ path: 'labelSelector', message: (error as Error).message });
    }
  }
  if (problems.length > 0) throw invalid(problems);
  return filter;
}

/** `?name=true|false|1|0` (absent: false). */
export function parseFlag(query: unknown, name: string): boolean {
  const value = record(query)[name];
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw invalid([{ path: name, message: 'must be true or false' }]);
}

/** An optional resource version query parameter. */
export function parseVersionParam(query: unknown, name: string): number | undefined {
  const value = record(query)[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^[0-9]{1,15}$/.test(value)) {
    throw invalid([{ path: name, message: 'must be a resource version (digits)' }]);
  }
  return Number(value);
}

function record(query: unknown): Record<string, unknown> {
  return typeof query === 'object' && query !== null ? (query as Record<string, unknown>) : {};
}

function invalid(problems: FieldProblem[]): BowlineError {
  const summary = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  return new BowlineError(Kinds.INVALID_ARGUMENT, `invalid request: ${summary}`, problems);
}
