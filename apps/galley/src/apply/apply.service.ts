import { Inject, Injectable } from '@nestjs/common';
import { type DocumentProblem, GalleyError, summarise } from '../errors';
import type { ParseResult } from '../resources/documents';
import type { ResourceKey } from '../resources/kinds';
import { validateDocuments } from '../resources/validation';
import { type ApplyOutcome, ResourceStore } from '../store/resource.store';

export interface ApplyOptions {
  /** `api`, or `file:<path>` for the directory source. */
  source: string;
  dryRun?: boolean;
  ignoreVersions?: boolean;
  prune?: boolean;
}

/** The answer to an apply: what happened to each document, and the fields Galley does not act on. */
export interface ApplyReport {
  dryRun: boolean;
  /** The latest resource version after the apply. */
  version: number;
  results: ApplyOutcome[];
  /** Resources removed because their file no longer declares them (directory source only). */
  deleted: ResourceKey[];
  warnings: DocumentProblem[];
}

/**
 * Apply, like `kubectl apply -f`: every document is validated first; if any is invalid
 * (or malformed) nothing is stored and every problem is reported; otherwise all are stored
 * in one transaction.
 */
@Injectable()
export class ApplyService {
  constructor(@Inject(ResourceStore) private readonly store: ResourceStore) {}

  async apply(parsed: ParseResult, options: ApplyOptions): Promise<ApplyReport> {
    const validation = validateDocuments(parsed.documents);
    const problems = [...parsed.problems, ...validation.problems].sort((a, b) => a.document - b.document);
    if (problems.length > 0) {
      const malformed = validation.problems.length === 0;
      throw new GalleyError(
        malformed ? 'DOCUMENT_MALFORMED' : 'RESOURCE_INVALID',
        `${malformed ? 'malformed input' : 'invalid resources'}; nothing was stored: ${summarise(problems)}`,
        { errors: problems },
      );
    }
    if (validation.valid.length === 0 && !options.prune) {
      throw new GalleyError('DOCUMENT_MALFORMED', 'the request holds no documents');
    }
    const result = await this.store.apply({
      documents: validation.valid,
      source: options.source,
      dryRun: options.dryRun,
      ignoreVersions: options.ignoreVersions,
      prune: options.prune,
    });
    return { dryRun: options.dryRun ?? false, ...result, warnings: validation.warnings };
  }
}
