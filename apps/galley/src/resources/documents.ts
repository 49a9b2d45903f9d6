import { isMap, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { DocumentProblem } from '../errors';

/** One document of an apply request, before validation. */
export interface RawDocument {
  /** Position in the request, counting the items of a `kind: List` and of a JSON array. */
  readonly index: number;
  readonly value: unknown;
  /** For YAML input: the 1-based line and column where the node at `path` starts. */
  readonly locate?: (path: readonly (string | number)[]) => { line: number; column: number } | undefined;
}

export type ParseResult = { documents: RawDocument[]; problems: DocumentProblem[] };

const MAX_ALIAS_COUNT = 100;

/**
 * Splits a multi-document YAML stream (`---` separated, like `kubectl apply -f`) into documents.
 * Syntax errors are reported with their line and column; empty documents are skipped; a
 * `kind: List` document contributes its `items`.
 */
export function parseYamlStream(text: string, sourceName = 'body'): ParseResult {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const streams = Array.isArray(parsed) ? parsed : [];
  const documents: RawDocument[] = [];
  const problems: DocumentProblem[] = [];
  let next = 0;
  for (const doc of streams) {
    if (doc.contents === null && doc.errors.length === 0) continue;
    const index = next++;
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const position = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
        problems.push({
          document: index,
          path: '',
          message: `malformed YAML at line ${position.line}, column ${position.col}: ${firstLine(error.message)}`,
          line: position.line,
          column: position.col,
          source: sourceName,
        });
      }
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      problems.push({ document: index, path: '', message: `malformed YAML: ${(error as Error).message}` });
      continue;
    }
    if (value === null || value === undefined) {
      next--; // an empty document (only comments): skipped, as kubectl does
      continue;
    }
    const locate = locator(doc, lineCounter);
    if (isList(value)) {
      next += value.items.length - 1;
      value.items.forEach((item, i) =>
        documents.push({ index: index + i, value: item, locate: (path) => locate(['items', i, ...path]) }),
      );
    } else {
      documents.push({ index, value, locate });
    }
  }
  return { documents, problems };
}

/** A parsed JSON body: one object, an array of objects, or a `kind: List` with `items`. */
export function fromJson(body: unknown): RawDocument[] {
  const values = Array.isArray(body) ? body : isList(body) ? body.items : [body];
  return values.map((value, index) => ({ index, value }));
}

function isList(value: unknown): value is { items: unknown[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return typeof record.kind === 'string' && record.kind.endsWith('List') && Array.isArray(record.items);
}

function locator(doc: Document, lineCounter: LineCounter): NonNullable<RawDocument['locate']> {
  return (path) => {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
      if (node && (isMap(node) || isSeq(node) || node.range)) {
        const offset = node.range?.[0];
        if (offset === undefined) continue;
        const { line, col } = lineCounter.linePos(offset);
        return { line, column: col };
      }
    }
    return undefined;
  };
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}
