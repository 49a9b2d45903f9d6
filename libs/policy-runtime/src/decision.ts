/**
 * The decision contract of opa-envoy-plugin: the entrypoint's value is a boolean, or an object
 * `{allowed, headers, response_headers_to_add, request_headers_to_remove, http_status, body,
 * dynamic_metadata}`. Anything else, and an undefined value, is an error that denies.
 */

/** One header to add: objects map names to a string or a list of strings (one header each). */
export interface HeaderEntry {
  key: string;
  value: string;
}

/** Why a decision is an error (and therefore a denial). */
export type DecisionErrorCode = 'DECISION_UNDEFINED' | 'DECISION_MALFORMED' | 'EVALUATION_FAILED';

export interface Decision {
  /** The only field that matters for enforcement; false whenever `error` is set. */
  allowed: boolean;
  /** Allowed: headers added to the upstream request. Denied: headers of the denial response. */
  headers: HeaderEntry[];
  /** Allowed only: headers added to the response sent to the client. */
  responseHeadersToAdd: HeaderEntry[];
  /** Allowed only: request headers removed before the request goes upstream. */
  requestHeadersToRemove: string[];
  /** Denied only: the HTTP status of the denial (Envoy's default is 403). */
  httpStatus?: number;
  /** Denied only: the body of the denial response. */
  body?: string;
  dynamicMetadata?: Record<string, unknown>;
  /** Set when the policy failed to decide: the request is denied (fail closed). */
  error?: { code: DecisionErrorCode; message: string };
}

/** A denial because the policy did not produce a usable decision. */
export function failedDecision(code: DecisionErrorCode, message: string): Decision {
  return {
    allowed: false,
    headers: [],
    responseHeadersToAdd: [],
    requestHeadersToRemove: [],
    error: { code, message },
  };
}

class Malformed extends Error {}

function headerEntries(value: unknown, field: string): HeaderEntry[] {
  if (value === undefined) return [];
  const entries: HeaderEntry[] = [];
  const add = (key: string, v: unknown) => {
    const values = Array.isArray(v) ? v : [v];
    for (const one of values) {
      if (typeof one !== 'string') throw new Malformed(`${field}.${key}: header values must be strings`);
      entries.push({ key, value: one });
    }
  };
  if (Array.isArray(value)) {
    // [{"name": "value"}, ...]: lets a policy repeat one header name
    value.forEach((item, i) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw new Malformed(`${field}[${i}]: must be an object of header names to values`);
      }
      for (const [key, v] of Object.entries(item)) add(key, v);
    });
    return entries;
  }
  if (typeof value !== 'object' || value === null) throw new Malformed(`${field}: must be an object or an array`);
  for (const [key, v] of Object.entries(value)) add(key, v);
  return entries;
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new Malformed(`${field}: must be an array of strings`);
  }
  return value as string[];
}

function fromObject(value: Record<string, unknown>): Decision {
  if (typeof value.allowed !== 'boolean') throw new Malformed('allowed: must be a boolean');
  const decision: Decision = {
    allowed: value.allowed,
    headers: headerEntries(value.headers, 'headers'),
    responseHeadersToAdd: headerEntries(value.response_headers_to_add, 'response_headers_to_add'),
    requestHeadersToRemove: stringList(value.request_headers_to_remove, 'request_headers_to_remove'),
  };
  if (value.http_status !== undefined) {
    const status = value.http_status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
      throw new Malformed('http_status: must be an HTTP status code (100-599)');
    }
    decision.httpStatus = status;
  }
  if (value.body !== undefined) {
    if (typeof value.body !== 'string') throw new Malformed('body: must be a string');
    decision.body = value.body;
  }
  if (value.dynamic_metadata !== undefined) {
    const meta = value.dynamic_metadata;
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
      throw new Malformed('dynamic_metadata: must be an object');
    }
    decision.dynamicMetadata = meta as Record<string, unknown>;
  }
  return decision;
}

/**
 * Reads the result set opa-wasm returns for one entrypoint (`[]` when undefined,
 * `[{result: value}]` otherwise) as a decision. Never throws: errors deny.
 */
export function interpretResultSet(resultSet: unknown): Decision {
  if (!Array.isArray(resultSet) || resultSet.length === 0) {
    return failedDecision('DECISION_UNDEFINED', 'the policy decision is undefined: no rule produced a value');
  }
  if (resultSet.length > 1) {
    return failedDecision('DECISION_MALFORMED', 'the policy produced more than one decision');
  }
  const value = (resultSet[0] as { result?: unknown }).result;
  if (value === undefined) return failedDecision('DECISION_UNDEFINED', 'the policy decision is undefined');
  return interpretDecision(value);
}

/** Reads a defined decision value (a boolean or an object). Never throws: a malformed one denies. */
export function interpretDecision(value: unknown): Decision {
  if (typeof value === 'boolean') {
    return { allowed: value, headers: [], responseHeadersToAdd: [], requestHeadersToRemove: [] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return failedDecision(
      'DECISION_MALFORMED',
      `the policy decision must be a boolean or an object, not ${typeName(value)}`,
    );
  }
  try {
    return fromObject(value as Record<string, unknown>);
  } catch (error) {
    if (error instanceof Malformed) return failedDecision('DECISION_MALFORMED', `malformed decision: ${error.message}`);
    throw error;
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
