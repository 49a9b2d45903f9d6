import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { CLOCK, type Clock } from '#libs/host';
import { type DocumentProblem, GalleyError, summarise } from '../errors';
import { keyString, type ResourceKey, type ValidDocument } from '../resources/kinds';
import { jsonEqual } from './deep-equal';
import { CHANGES_CHANNEL, type ChangeRecord } from './records';
import type { ChangeOperation } from './resource-change.entity';

/** What happened (or, for a dry run, would happen) to one document. */
export interface ApplyOutcome extends ResourceKey {
  document: number;
  operation: 'created' | 'configured' | 'unchanged';
  /** The version after the apply (the current one when unchanged; absent for a dry-run create/update). */
  resourceVersion?: number;
}

export interface ApplyParams {
  documents: readonly ValidDocument[];
  /** `api`, or `file:<path>` for the directory source. */
  source: string;
  dryRun?: boolean;
  /** Skip the optimistic concurrency check (the directory source: files are the truth). */
  ignoreVersions?: boolean;
  /** Also delete the resources of `source` that are not among `documents` (a file's new content). */
  prune?: boolean;
}

export interface ApplyResult {
  results: ApplyOutcome[];
  deleted: ResourceKey[];
  /** The latest version after this apply (unchanged when nothing changed). */
  version: number;
}

interface ExistingRow {
  kind: string;
  namespace: string;
  name: string;
  resource_version: string;
  object: Record<string, unknown>;
  source: string;
}

/**
 * The write side of the store. Every write runs in one transaction that locks the state row
 * (so versions commit in order: a reader that saw version N has seen every version below it),
 * takes versions from the sequence, updates the live table and the change log, and NOTIFYs
 * the new version to every Galley replica. All documents are stored, or none.
 */
@Injectable()
export class ResourceStore {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async apply(params: ApplyParams): Promise<ApplyResult> {
    return this.dataSource.transaction(async (manager) => {
      const initial = await this.lockState(manager);
      let version = initial;
      const existing = await this.load(manager, params.documents);
      if (!params.ignoreVersions) this.checkVersions(params.documents, existing);
      const results: ApplyOutcome[] = [];
      for (const document of params.documents) {
        const current = existing.get(keyString(document));
        const outcome = {
          document: document.index,
          kind: document.kind,
          namespace: document.namespace,
          name: document.name,
        };
        if (current && jsonEqual(withoutVersion(current.object), withoutVersion(document.object))) {
          if (current.source !== params.source && !params.dryRun) {
            await manager.query(
              `UPDATE galley_resources SET source = $4 WHERE kind = $1 AND namespace = $2 AND name = $3`,
              [document.kind, document.namespace, document.name, params.source],
            );
          }
          results.push({ ...outcome, operation: 'unchanged', resourceVersion: Number(current.resource_version) });
          continue;
        }
        const operation = current ? 'configured' : 'created';
        if (params.dryRun) {
          results.push({ ...outcome, operation });
          continue;
        }
        version = await this.write(manager, document, current ? 'MODIFIED' : 'ADDED', params.source);
        results.push({ ...outcome, operation, resourceVersion: version });
      }
      const deleted = params.prune ? await this.pruneSource(manager, params, version) : { keys: [], version };
      version = deleted.version;
      if (params.dryRun || version === initial) return { results, deleted: deleted.keys, version };
      await this.finish(manager, version);
      return { results, deleted: deleted.keys, version };
    });
  }

  /** Deletes one resource; `expectedVersion` (optional) must be its current version. */
  async delete(key: ResourceKey, expectedVersion?: number): Promise<ChangeRecord> {
    return this.dataSource.transaction(async (manager) => {
      await this.lockState(manager);
      const [row]: ExistingRow[] = await manager.query(
        `SELECT kind, namespace, name, resource_version, object, source FROM galley_resources
          WHERE kind = $1 AND namespace = $2 AND name = $3`,
        [key.kind, key.namespace, key.name],
      );
      if (!row) throw new GalleyError('RESOURCE_NOT_FOUND', `${key.kind} ${key.namespace}/${key.name} does not exist`);
      if (expectedVersion !== undefined && Number(row.resource_version) !== expectedVersion) {
        throw new GalleyError(
          'VERSION_CONFLICT',
          `${key.kind} ${key.namespace}/${key.name}: resourceVersion ${expectedVersion} is stale (current: ${row.resource_version})`,
        );
      }
      const version = await this.remove(manager, key, row.object, row.source);
      await this.finish(manager, version);
      return {
        ...key,
        version,
        operation: 'DELETED',
        source: row.source,
        object: row.object,
        changedAt: this.clock.now(),
      };
    });
  }

  /** Locks the state row for this transaction; returns the latest committed version. */
  private async lockState(manager: EntityManager): Promise<number> {
    const [state] = await manager.query(`SELECT current_version FROM galley_state WHERE id = 1 FOR UPDATE`);
    if (!state) throw new Error('galley_state has no row: run the migrations');
    return Number(state.current_version);
  }

  private async load(manager: EntityManager, documents: readonly ValidDocument[]): Promise<Map<string, ExistingRow>> {
    if (documents.length === 0) return new Map();
    const rows: ExistingRow[] = await manager.query(
      `SELECT r.kind, r.namespace, r.name, r.resource_version, r.object, r.source
         FROM galley_resources r
         JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(kind, namespace, name)
           ON r.kind = k.kind AND r.namespace = k.namespace AND r.name = k.name`,
      [documents.map((d) => d.kind), documents.map((d) => d.namespace), documents.map((d) => d.name)],
    );
    return new Map(rows.map((row) => [`${row.kind}/${row.namespace}/${row.name}`, row]));
  }

  private checkVersions(documents: readonly ValidDocument[], existing: Map<string, ExistingRow>): void {
    const conflicts: DocumentProblem[] = [];
    for (const document of documents) {
      if (document.expectedVersion === undefined) continue;
      const current = existing.get(keyString(document));
      const where = {
        document: document.index,
        kind: document.kind,
        namespace: document.namespace,
        name: document.name,
      };
      if (!current) {
        conflicts.push({
          ...where,
          path: 'metadata.resourceVersion',
          message: `is ${document.expectedVersion} but the resource does not exist (deleted?): remove resourceVersion to create it`,
        });
      } else if (Number(current.resource_version) !== document.expectedVersion) {
        conflicts.push({
          ...where,
          path: 'metadata.resourceVersion',
          message: `is ${document.expectedVersion} but the resource has changed since (current: ${current.resource_version}): get it again and reapply`,
        });
      }
    }
    if (conflicts.length > 0) {
      throw new GalleyError('VERSION_CONFLICT', `stale resourceVersion: ${summarise(conflicts)}`, {
        errors: conflicts,
      });
    }
  }

  private async write(
    manager: EntityManager,
    document: ValidDocument,
    operation: ChangeOperation,
    source: string,
  ): Promise<number> {
    const version = await this.nextVersion(manager);
    const object = { ...document.object, metadata: { ...document.object.metadata, resourceVersion: String(version) } };
    const labels = document.object.metadata.labels ?? {};
    await manager.query(
      `INSERT INTO galley_resources (kind, namespace, name, api_version, resource_version, labels, object, source, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $9)
       ON CONFLICT (kind, namespace, name) DO UPDATE SET api_version = $4, resource_version = $5, labels = $6::jsonb,
         object = $7::jsonb, source = $8, updated_at = $9`,
      [
        document.kind,
        document.namespace,
        document.name,
        document.object.apiVersion,
        version,
        JSON.stringify(labels),
        JSON.stringify(object),
        source,
        this.clock.now(),
      ],
    );
    await this.logChange(manager, version, document, operation, object, source);
    return version;
  }

  private async remove(
    manager: EntityManager,
    key: ResourceKey,
    object: Record<string, unknown>,
    source: string,
  ): Promise<number> {
    const version = await this.nextVersion(manager);
    await manager.query(`DELETE FROM galley_resources WHERE kind = $1 AND namespace = $2 AND name = $3`, [
      key.kind,
      key.namespace,
      key.name,
    ]);
    await this.logChange(manager, version, key, 'DELETED', object, source);
    return version;
  }

  private async pruneSource(
    manager: EntityManager,
    params: ApplyParams,
    version: number,
  ): Promise<{ keys: ResourceKey[]; version: number }> {
    const keep = new Set(params.documents.map(keyString));
    const rows: ExistingRow[] = await manager.query(
      `SELECT kind, namespace, name, resource_version, object, source FROM galley_resources WHERE source = $1 ORDER BY kind, namespace, name`,
      [params.source],
    );
    const keys: ResourceKey[] = [];
    for (const row of rows) {
      const key = { kind: row.kind, namespace: row.namespace, name: row.name } as ResourceKey;
      if (keep.has(keyString(key))) continue;
      keys.push(key);
      if (!params.dryRun) version = await this.remove(manager, key, row.object, row.source);
    }
    return { keys, version };
  }

  private async nextVersion(manager: EntityManager): Promise<number> {
    const [row] = await manager.query(`SELECT nextval('galley_resource_version_seq') AS version`);
    return Number(row.version);
  }

  private async logChange(
    manager: EntityManager,
    version: number,
    key: ResourceKey,
    operation: ChangeOperation,
    object: Record<string, unknown>,
    source: string,
  ): Promise<void> {
    await manager.query(
      `INSERT INTO galley_changes (version, kind, namespace, name, operation, object, source, changed_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
      [version, key.kind, key.namespace, key.name, operation, JSON.stringify(object), source, this.clock.now()],
    );
  }

  /** Records the new latest version and tells every replica (delivered when the transaction commits). */
  private async finish(manager: EntityManager, version: number): Promise<void> {
    await manager.query(`UPDATE galley_state SET current_version = $1 WHERE id = 1 AND current_version < $1`, [
      version,
    ]);
    await manager.query(`SELECT pg_notify($1, $2)`, [CHANGES_CHANNEL, String(version)]);
  }
}

function withoutVersion(object: Record<string, unknown>): Record<string, unknown> {
  const metadata = { ...(object.metadata as Record<string, unknown>) };
  delete metadata.resourceVersion;
  return { ...object, metadata };
}
