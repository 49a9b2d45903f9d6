import type { DecisionLog } from './decision-log.entity';

/** One decision ready to store: every column but the ones the database fills in. */
export type DecisionRecord = Omit<DecisionLog, 'id' | 'receivedAt'>;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const at = (doc: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((value, key) => (isObject(value) ? value[key] : undefined), doc);

function text(value: unknown, max: number): string | null {
  return typeof value === 'string' && value !== '' ? value.slice(0, max) : null;
}

/** Who called what, read from an opa-envoy-plugin input document (the columns queries filter on). */
export function requestColumns(
  input: unknown,
): Pick<DecisionRecord, 'requestId' | 'sourcePrincipal' | 'destination' | 'method' | 'path' | 'host'> {
  const http = at(input, 'attributes', 'request', 'http');
  const headers = at(http, 'headers');
  const destination = at(input, 'attributes', 'destination');
  return {
    requestId: text(at(headers, 'x-request-id') ?? at(http, 'id'), 256),
    sourcePrincipal: text(at(input, 'attributes', 'source', 'principal'), 2048),
    destination: text(at(destination, 'principal') || at(destination, 'service'), 2048),
    method: text(at(http, 'method'), 32),
    path: text(at(http, 'path'), 2048),
    host: text(at(http, 'host'), 1024),
  };
}

/** A stored decision as the API shows it. */
export interface DecisionLogView {
  id: string;
  decisionId: string;
  timestamp: string;
  requestId: string | null;
  principal: string | null;
  destination: string | null;
  method: string | null;
  path: string | null;
  host: string | null;
  allowed: boolean;
  httpStatus: number | null;
  policy: string | null;
  revision: number | null;
  result: unknown;
  input: unknown;
  reason: string | null;
  reporter: string;
  requestedBy: string | null;
  evalDurationMicros: number | null;
  metrics: Record<string, number> | null;
  receivedAt: string;
}

export function decisionLogView(row: DecisionLog): DecisionLogView {
  return {
    id: row.id,
    decisionId: row.decisionId,
    timestamp: row.decidedAt.toISOString(),
    requestId: row.requestId,
    principal: row.sourcePrincipal,
    destination: row.destination,
    method: row.method,
    path: row.path,
    host: row.host,
    allowed: row.allowed,
    httpStatus: row.httpStatus,
    policy: row.policy,
    revision: row.revision,
    result: row.decision ?? null,
    input: row.input,
    reason: row.reason,
    reporter: row.reporter,
    requestedBy: row.requestedBy,
    evalDurationMicros: row.evalDurationMicros,
    metrics: row.metrics,
    receivedAt: row.receivedAt.toISOString(),
  };
}
