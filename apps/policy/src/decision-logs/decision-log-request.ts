import type { FieldProblem } from '#libs/errors';
import { interpretDecision, interpretResultSet } from '#libs/policy-runtime';
import { invalid, policyNameProblem, requireObject, unknownFields } from '../policies/policy-request';
import { type DecisionRecord, requestColumns } from './decision-record';
import type { InputMasker } from './masking';

/** Most decisions one `POST /v1/decision-logs` may carry. */
export const MAX_BATCH = 1000;

/** OPA decision log fields Bowline accepts and does not store. */
const OPA_IGNORED = ['labels', 'bundles', 'erased', 'masked', 'nd_builtin_cache', 'req_id', 'trace_id', 'span_id'];
const FIELDS = [
  ...['decision_id', 'timestamp', 'path', 'input', 'result', 'requested_by', 'metrics', ...OPA_IGNORED],
  ...['allowed', 'http_status', 'policy', 'revision', 'reason', 'reporter'],
];
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An RFC 3339 timestamp cut to milliseconds (the precision stored and paged on), or null. */
export function parseTimestamp(value: unknown): Date | null {
  const match = typeof value === 'string' ? RFC3339.exec(value) : null;
  if (!match) return null;
  const millis = (match[2] ?? '').slice(0, 4);
  const date = new Date(`${match[1]}${millis}${match[3]}`);
  return Number.isNaN(date.getTime()) ? null : date;
}

function optionalString(entry: Json, key: string, max: number, problems: FieldProblem[], at: string): string | null {
  const value = entry[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > max) {
    problems.push({ path: `${at}.${key}`, message: `must be a string of at most ${max} characters` });
    return null;
  }
  return value;
}

function integer(value: unknown, min: number, max: number): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : null;
}

/** `bundles: {"<policy>": {"revision": "3"}}` (one bundle) names the policy and revision, as OPA reports it. */
function fromBundles(bundles: unknown): { policy?: string; revision?: number } {
  if (!isObject(bundles) || Object.keys(bundles).length !== 1) return {};
  const [[name, info]] = Object.entries(bundles);
  if (policyNameProblem(name)) return {}; // a bundle that is not a Bowline policy
  const revision = isObject(info) && typeof info.revision === 'string' ? Number(info.revision) : NaN;
  return { policy: name, ...(Number.isInteger(revision) && revision > 0 ? { revision } : {}) };
}

/** Bowline's fields beside OPA's: the enforced outcome and which policy revision decided. */
function bowlineFields(entry: Json, at: string, problems: FieldProblem[]) {
  if (entry.allowed !== undefined && typeof entry.allowed !== 'boolean') {
    problems.push({ path: `${at}.allowed`, message: 'must be a boolean (the enforced outcome)' });
  }
  const httpStatus = entry.http_status === undefined ? null : integer(entry.http_status, 100, 599);
  if (entry.http_status !== undefined && httpStatus === null) {
    problems.push({ path: `${at}.http_status`, message: 'must be an HTTP status code (100-599)' });
  }
  const bundle = fromBundles(entry.bundles);
  const policy = entry.policy ?? bundle.policy ?? null;
  if (policy !== null && policyNameProblem(policy)) {
    problems.push({ path: `${at}.policy`, message: policyNameProblem(policy) as string });
  }
  const revision = entry.revision === undefined ? (bundle.revision ?? null) : integer(entry.revision, 1, 1e9);
  if (entry.revision !== undefined && revision === null) {
    problems.push({ path: `${at}.revision`, message: 'must be a revision number (1, 2, ...)' });
  }
  return {
    allowed: entry.allowed as boolean | undefined,
    httpStatus,
    policy: policy as string | null,
    revision,
    reason: optionalString(entry, 'reason', 1024, problems, at),
    reporter: optionalString(entry, 'reporter', 256, problems, at),
  };
}

function parseEntry(entry: unknown, at: string, reporter: string, masker: InputMasker, problems: FieldProblem[]) {
  if (!isObject(entry)) {
    problems.push({ path: at, message: 'must be a decision object' });
    return null;
  }
  const count = problems.length;
  problems.push(...unknownFields(entry, FIELDS).map((p) => ({ ...p, path: `${at}.${p.path}` })));
  const decisionId = optionalString(entry, 'decision_id', 128, problems, at);
  if (!decisionId) problems.push({ path: `${at}.decision_id`, message: 'required: a unique id for the decision' });
  const decidedAt = parseTimestamp(entry.timestamp);
  if (!decidedAt) problems.push({ path: `${at}.timestamp`, message: 'required: an RFC 3339 timestamp' });
  if (!isObject(entry.input)) problems.push({ path: `${at}.input`, message: 'required: the input document' });
  if (entry.metrics !== undefined && (!isObject(entry.metrics) || Object.values(entry.metrics).some(notNumber))) {
    problems.push({ path: `${at}.metrics`, message: 'must be an object of numbers' });
  }
  const requestedBy = optionalString(entry, 'requested_by', 256, problems, at);
  optionalString(entry, 'path', 1024, problems, at);
  const bowline = bowlineFields(entry, at, problems);
  if (problems.length > count) return null;

  // Without an explicit outcome, the result decides as it would have in the proxy (undefined denies).
  const interpreted = entry.result === undefined ? interpretResultSet([]) : interpretDecision(entry.result);
  const input = entry.input as Json;
  const labels = isObject(entry.labels) && typeof entry.labels.id === 'string' ? entry.labels.id : null;
  const evalNs = (entry.metrics as Json | undefined)?.timer_rego_query_eval_ns;
  return {
    decisionId: decisionId as string,
    decidedAt: decidedAt as Date,
    ...requestColumns(input),
    allowed: bowline.allowed ?? interpreted.allowed,
    httpStatus: bowline.httpStatus ?? interpreted.httpStatus ?? null,
    policy: bowline.policy,
    revision: bowline.revision,
    decision: entry.result === undefined ? null : masker.maskResult(entry.result),
    input: masker.mask(input),
    reason: bowline.reason ?? interpreted.error?.message.slice(0, 1024) ?? null,
    reporter: (bowline.reporter ?? labels ?? reporter).slice(0, 256),
    requestedBy,
    evalDurationMicros: typeof evalNs === 'number' ? Math.min(Math.round(evalNs / 1000), 2 ** 31 - 1) : null,
    metrics: (entry.metrics as Record<string, number> | undefined) ?? null,
  } satisfies DecisionRecord;
}

const notNumber = (v: unknown) => typeof v !== 'number' || !Number.isFinite(v);

/**
 * Validates `POST /v1/decision-logs` (`{decisions: [...]}`, OPA's decision log entries plus
 * Bowline's fields) and masks each input. One bad entry refuses the batch, naming its index.
 */
export function parseDecisionBatch(body: unknown, masker: InputMasker, reporter: string): DecisionRecord[] {
  const input = requireObject(body);
  const problems = unknownFields(input, ['decisions']);
  const decisions = input.decisions;
  if (!Array.isArray(decisions) || decisions.length === 0 || decisions.length > MAX_BATCH) {
    problems.push({ path: 'decisions', message: `required: an array of 1 to ${MAX_BATCH} decisions` });
    throw invalid('invalid decision log batch', problems);
  }
  const records = decisions.map((entry, i) => parseEntry(entry, `decisions[${i}]`, reporter, masker, problems));
  if (problems.length > 0) throw invalid('invalid decision log batch', problems.slice(0, 50));
  return records as DecisionRecord[];
}
