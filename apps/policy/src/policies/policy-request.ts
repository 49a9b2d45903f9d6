import { BowlineError, type FieldProblem, Kinds } from '#libs/errors';

/** Sources and settings of one revision, validated. */
export interface RevisionSpec {
  /** Undefined: the previous revision's entrypoints (or the default for a new policy). */
  entrypoints?: string[];
  modules: Record<string, string>;
  tests: Record<string, string>;
  data: Record<string, unknown>;
  /** Activate the revision as soon as it is stored. */
  activate: boolean;
}

export interface CreatePolicySpec extends RevisionSpec {
  name: string;
  description: string | null;
}

export const MAX_MODULES = 64;
export const MAX_SOURCE_BYTES = 1024 * 1024;
export const MAX_DATA_BYTES = 1024 * 1024;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.rego$/;
const ENTRYPOINT = /^[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/;
const REVISION_FIELDS = ['entrypoint', 'entrypoints', 'modules', 'tests', 'data', 'activate'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Null when `name` is a valid policy name (a DNS-1123 subdomain), otherwise why not. */
export function policyNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name === '') return 'required: a policy name';
  if (!NAME.test(name)) return 'must be lowercase letters, digits, "-" and "." (a DNS-1123 subdomain, up to 253)';
  return null;
}

function sources(value: unknown, field: string, tests: boolean, problems: FieldProblem[]): Record<string, string> {
  if (value === undefined && tests) return {};
  if (!isObject(value) || Object.keys(value).length === 0) {
    problems.push({
      path: field,
      message: `must be an object of file names to Rego sources${tests ? '' : ', not empty'}`,
    });
    return {};
  }
  if (Object.keys(value).length > MAX_MODULES) problems.push({ path: field, message: `at most ${MAX_MODULES} files` });
  let bytes = 0;
  for (const [name, source] of Object.entries(value)) {
    const path = `${field}[${JSON.stringify(name)}]`;
    if (!FILE.test(name))
      problems.push({ path, message: 'file names are letters, digits, ".", "_", "-" and end in .rego' });
    else if (tests !== name.endsWith('_test.rego')) {
      problems.push({ path, message: tests ? 'test files end in _test.rego' : 'test files (_test.rego) go in tests' });
    }
    if (typeof source !== 'string') problems.push({ path, message: 'must be the Rego source as a string' });
    else bytes += Buffer.byteLength(source);
  }
  if (bytes > MAX_SOURCE_BYTES) problems.push({ path: field, message: `at most ${MAX_SOURCE_BYTES} bytes of source` });
  return value as Record<string, string>;
}

function entrypoints(input: Record<string, unknown>, problems: FieldProblem[]): string[] | undefined {
  if (input.entrypoint !== undefined && input.entrypoints !== undefined) {
    problems.push({ path: 'entrypoints', message: 'give entrypoint or entrypoints, not both' });
    return undefined;
  }
  const field = input.entrypoints !== undefined ? 'entrypoints' : 'entrypoint';
  const raw = input.entrypoints ?? (input.entrypoint === undefined ? undefined : [input.entrypoint]);
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > 16) {
    problems.push({ path: field, message: 'must be a list of 1 to 16 decision paths such as envoy/authz/allow' });
    return undefined;
  }
  raw.forEach((e, i) => {
    if (typeof e !== 'string' || !ENTRYPOINT.test(e)) {
      const path = field === 'entrypoints' ? `entrypoints[${i}]` : 'entrypoint';
      problems.push({ path, message: 'a decision path: rule names joined by "/", such as envoy/authz/allow' });
    }
  });
  return raw as string[];
}

function revisionProblems(input: Record<string, unknown>, problems: FieldProblem[]): RevisionSpec {
  const spec: RevisionSpec = {
    entrypoints: entrypoints(input, problems),
    modules: sources(input.modules, 'modules', false, problems),
    tests: sources(input.tests, 'tests', true, problems),
    data: {},
    activate: false,
  };
  if (input.data !== undefined) {
    if (!isObject(input.data)) problems.push({ path: 'data', message: 'must be a JSON object (the data document)' });
    else if (Buffer.byteLength(JSON.stringify(input.data)) > MAX_DATA_BYTES) {
      problems.push({ path: 'data', message: `at most ${MAX_DATA_BYTES} bytes of JSON` });
    } else spec.data = input.data;
  }
  if (input.activate !== undefined && typeof input.activate !== 'boolean') {
    problems.push({ path: 'activate', message: 'must be a boolean' });
  } else spec.activate = input.activate === true;
  return spec;
}

/** Validates `POST /v1/policies`; every problem names its field. */
export function parseCreatePolicy(body: unknown): CreatePolicySpec {
  const input = requireObject(body);
  const problems = unknownFields(input, ['name', 'description', ...REVISION_FIELDS]);
  const nameProblem = policyNameProblem(input.name);
  if (nameProblem) problems.push({ path: 'name', message: nameProblem });
  const description = input.description ?? null;
  if (description !== null && (typeof description !== 'string' || description.length > 1024)) {
    problems.push({ path: 'description', message: 'must be a string of at most 1024 characters' });
  }
  const spec = revisionProblems(input, problems);
  if (problems.length > 0) throw invalid('invalid policy', problems);
  return { ...spec, name: input.name as string, description: description as string | null };
}

/** Validates `POST /v1/policies/{name}/revisions`. */
export function parseRevision(body: unknown): RevisionSpec {
  const input = requireObject(body);
  const problems = unknownFields(input, REVISION_FIELDS);
  const spec = revisionProblems(input, problems);
  if (problems.length > 0) throw invalid('invalid policy revision', problems);
  return spec;
}

/** A revision number from the URL (`3` in `/revisions/3:activate`). */
export function parseRevisionNumber(raw: string): number {
  if (!/^[1-9]\d{0,8}$/.test(raw)) {
    throw invalid('invalid revision', [{ path: 'revision', message: 'must be a revision number (1, 2, ...)' }]);
  }
  return Number(raw);
}

export function requireObject(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw new BowlineError(Kinds.INVALID_ARGUMENT, 'the body must be a JSON object');
  return body;
}

export function unknownFields(input: Record<string, unknown>, known: readonly string[]): FieldProblem[] {
  return Object.keys(input)
    .filter((key) => !known.includes(key))
    .map((path) => ({ path, message: 'unknown field' }));
}

export function invalid(what: string, problems: FieldProblem[]): BowlineError {
  const summary = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  return new BowlineError(Kinds.INVALID_ARGUMENT, `${what}: ${summary}`, problems);
}
