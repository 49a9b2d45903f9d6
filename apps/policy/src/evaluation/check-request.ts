import type { FieldProblem } from '#libs/errors';
import type { HttpRequestDescription } from '#libs/policy-runtime';
import { invalid, policyNameProblem, unknownFields } from '../policies/policy-request';

/** A validated `POST /v1/authz/check` body: exactly one of `input` and `request`. */
export interface AuthzCheckRequest {
  policy?: string;
  revision?: number;
  input?: unknown;
  request?: HttpRequestDescription;
}

const REQUEST_STRINGS = [
  'source',
  'destination',
  'method',
  'path',
  'host',
  'scheme',
  'body',
  'id',
  'protocol',
] as const;

function stringMap(value: unknown, path: string, problems: FieldProblem[]): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    Object.values(value).some((v) => typeof v !== 'string')
  ) {
    problems.push({ path, message: 'must be an object of strings' });
    return undefined;
  }
  return value as Record<string, string>;
}

function httpRequest(value: unknown, problems: FieldProblem[]): HttpRequestDescription | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({ path: 'request', message: 'must be an object describing an HTTP request' });
    return undefined;
  }
  const input = value as Record<string, unknown>;
  problems.push(
    ...unknownFields(input, [...REQUEST_STRINGS, 'headers', 'contextExtensions']).map((p) => ({
      ...p,
      path: `request.${p.path}`,
    })),
  );
  for (const key of REQUEST_STRINGS) {
    if (input[key] !== undefined && typeof input[key] !== 'string') {
      problems.push({ path: `request.${key}`, message: 'must be a string' });
    }
  }
  if (typeof input.method !== 'string' || input.method === '') {
    problems.push({ path: 'request.method', message: 'required: the HTTP method' });
  }
  if (typeof input.path !== 'string' || !input.path.startsWith('/')) {
    problems.push({ path: 'request.path', message: 'required: the path (with query), starting with /' });
  }
  return {
    ...(input as unknown as HttpRequestDescription),
    headers: stringMap(input.headers, 'request.headers', problems),
    contextExtensions: stringMap(input.contextExtensions, 'request.contextExtensions', problems),
  };
}

/** Validates the what-if body; every problem names its field. */
export function parseCheckRequest(input: Record<string, unknown>): AuthzCheckRequest {
  const problems = unknownFields(input, ['policy', 'revision', 'input', 'request']);
  const result: AuthzCheckRequest = {};
  if (input.policy !== undefined) {
    const problem = policyNameProblem(input.policy);
    if (problem) problems.push({ path: 'policy', message: problem });
    else result.policy = input.policy as string;
  }
  if (input.revision !== undefined) {
    if (typeof input.revision !== 'number' || !Number.isInteger(input.revision) || input.revision < 1) {
      problems.push({ path: 'revision', message: 'must be a revision number (1, 2, ...)' });
    } else result.revision = input.revision;
  }
  if ((input.input === undefined) === (input.request === undefined)) {
    problems.push({ path: 'input', message: 'give exactly one of input (a document) and request (an HTTP request)' });
  } else if (input.request !== undefined) result.request = httpRequest(input.request, problems);
  else result.input = input.input;
  if (problems.length > 0) throw invalid('invalid authz check', problems);
  return result;
}
