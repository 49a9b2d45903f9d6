import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { DocumentProblem } from '../errors';
import type { RawDocument } from './documents';
import {
  apiVersionsOf,
  DEFAULT_NAMESPACE,
  isKind,
  keyString,
  KINDS,
  type Kind,
  type ResourceObject,
  type ValidDocument,
} from './kinds';
import { dnsLabelProblem, dnsSubdomainProblem } from './names';
import { asRecord, formatPath, fromJsonPointer, type PathSegments } from './paths';
import { DOCUMENT_SCHEMAS } from './schemas';
import { checkLabels, checkSemantics } from './semantics';

/** The outcome of validating an apply request: nothing is stored unless `problems` is empty. */
export interface ValidationResult {
  valid: ValidDocument[];
  problems: DocumentProblem[];
  /** Fields Galley keeps but does not act on (unknown to its schema of that kind). */
  warnings: DocumentProblem[];
}

export const UNKNOWN_FIELD_MESSAGE = 'unknown field: kept as is, but Bowline does not act on it';

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = new Map<Kind, ValidateFunction>();

function validatorFor(kind: Kind): ValidateFunction {
  let validate = validators.get(kind);
  if (!validate) {
    validate = ajv.compile(DOCUMENT_SCHEMAS[kind]);
    validators.set(kind, validate);
  }
  return validate;
}

/**
 * Validates every document (JSON Schema of its kind, then Istio's semantic rules) and reports
 * each problem with its document index, kind, namespace, name and field path. Documents are
 * returned with `metadata.namespace` defaulted to `default`.
 */
export function validateDocuments(documents: readonly RawDocument[]): ValidationResult {
  const result: ValidationResult = { valid: [], problems: [], warnings: [] };
  const seen = new Map<string, number>();
  for (const document of documents) {
    const outcome = validateDocument(document);
    result.problems.push(...outcome.problems);
    result.warnings.push(...outcome.warnings);
    if (!outcome.valid) continue;
    const key = keyString(outcome.valid);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      result.problems.push({
        ...identify(document, outcome.valid.object),
        path: 'metadata.name',
        message: `the same ${outcome.valid.kind} is also document ${earlier} of this request`,
      });
      continue;
    }
    seen.set(key, document.index);
    result.valid.push(outcome.valid);
  }
  return result;
}

interface DocumentOutcome {
  valid?: ValidDocument;
  problems: DocumentProblem[];
  warnings: DocumentProblem[];
}

/** Validates one document on its own (no cross-document rules). */
export function validateDocument(document: RawDocument): DocumentOutcome {
  const problems: DocumentProblem[] = [];
  const warnings: DocumentProblem[] = [];
  const input = document.value;
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    problems.push({
      document: document.index,
      path: '',
      message: 'must be an object with apiVersion, kind, metadata and spec',
    });
    return { problems, warnings };
  }
  const object = structuredClone(input) as Record<string, unknown>;
  const metadata = asRecord(object.metadata);
  if (object.metadata !== undefined && metadata === object.metadata && !metadata.namespace) {
    metadata.namespace = DEFAULT_NAMESPACE;
  }
  const base = identify(document, object);
  const add = (list: DocumentProblem[]) => (path: PathSegments, message: string) =>
    list.push({ ...base, path: formatPath(path), message, ...document.locate?.(path) });
  const problem = add(problems);
  const kind = object.kind;
  if (!isKind(kind)) {
    if (kind === undefined) problem(['kind'], 'is required');
    else problem(['kind'], `unknown kind ${JSON.stringify(kind)}: expected one of ${Object.keys(KINDS).join(', ')}`);
    return { problems, warnings };
  }
  if (typeof object.apiVersion === 'string' && !apiVersionsOf(kind).includes(object.apiVersion)) {
    problem(['apiVersion'], `must be one of ${apiVersionsOf(kind).join(', ')} for kind ${kind}`);
  }
  const validate = validatorFor(kind);
  if (!validate(object)) {
    for (const error of validate.errors ?? []) {
      const reported = describe(error, object);
      if (reported.skip) continue;
      add(reported.warning ? warnings : problems)(reported.path, reported.message);
    }
  }
  checkMetadata(metadata, problem);
  if (problems.length === 0) checkSemantics(kind, asRecord(object.spec), problem);
  if (problems.length > 0) return { problems, warnings };
  const typed = object as ResourceObject;
  const resourceVersion = typed.metadata.resourceVersion;
  return {
    problems,
    warnings,
    valid: {
      index: document.index,
      kind,
      namespace: typed.metadata.namespace,
      name: typed.metadata.name,
      object: typed,
      expectedVersion: resourceVersion === undefined || resourceVersion === '' ? undefined : Number(resourceVersion),
    },
  };
}

function checkMetadata(
  metadata: Record<string, unknown>,
  problem: (path: PathSegments, message: string) => void,
): void {
  if (typeof metadata.name === 'string') {
    const message = metadata.name === '' ? 'is required' : dnsSubdomainProblem(metadata.name);
    if (message) problem(['metadata', 'name'], message);
  }
  if (typeof metadata.namespace === 'string') {
    const message = dnsLabelProblem(metadata.namespace);
    if (message) problem(['metadata', 'namespace'], message);
  }
  checkLabels(asRecord(metadata.labels), ['metadata', 'labels'], problem);
  const version = metadata.resourceVersion;
  if (version !== undefined && version !== '' && !/^[0-9]{1,15}$/.test(String(version))) {
    problem(['metadata', 'resourceVersion'], 'must be a resource version (digits) as Galley returned it');
  }
}

function describe(
  error: ErrorObject,
  value: unknown,
): { path: PathSegments; message: string; warning?: boolean; skip?: boolean } {
  const path = fromJsonPointer(error.instancePath, value);
  const params = error.params as Record<string, unknown>;
  if (error.propertyName !== undefined)
    return { path: [...path, error.propertyName], message: 'must be a port number' };
  switch (error.keyword) {
    case 'additionalProperties':
      return { path: [...path, String(params.additionalProperty)], message: UNKNOWN_FIELD_MESSAGE, warning: true };
    case 'required':
      return { path: [...path, String(params.missingProperty)], message: 'is required' };
    case 'enum':
      return { path, message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
    case 'pattern':
      return { path, message: patternMessage(error) };
    case 'propertyNames':
      return { path, message: 'keys must be port numbers', skip: true };
    case 'maxProperties':
      return { path, message: 'set only one of exact, prefix and regex' };
    default:
      return { path, message: error.message ?? 'is invalid' };
  }
}

function patternMessage(error: ErrorObject): string {
  return String(error.params.pattern).includes('ms|us')
    ? 'must be a duration such as 10s, 1.5s, 100ms or 1h'
    : (error.message ?? 'is invalid');
}

function identify(
  document: RawDocument,
  object: unknown,
): Pick<DocumentProblem, 'document' | 'kind' | 'namespace' | 'name'> {
  const record = asRecord(object);
  const metadata = asRecord(record.metadata);
  return {
    document: document.index,
    ...(typeof record.kind === 'string' ? { kind: record.kind } : {}),
    ...(typeof metadata.namespace === 'string' ? { namespace: metadata.namespace } : {}),
    ...(typeof metadata.name === 'string' ? { name: metadata.name } : {}),
  };
}
