import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Kind, ResourceKey } from '../resources/kinds';
import { type LabelRequirement, matchesSelector } from './label-selector';
import {
  CHANGE_COLUMNS,
  type ChangeRecord,
  type ChangeRow,
  RESOURCE_COLUMNS,
  type ResourceRow,
  type StoredResource,
  toChange,
  toResource,
} from './records';

export interface ResourceFilter {
  kinds?: readonly Kind[];
  namespace?: string;
  selector?: readonly LabelRequirement[];
}

/** Version bookkeeping: the latest committed version and the compaction point of the log. */
export interface VersionState {
  current: number;
  /** Every change after this version is still in the log; a Watch from an older one must relist. */
  compacted: number;
}

/** The read side of the store: live resources, per-resource history and the change log. */
@Injectable()
export class ResourceReader {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    const [row]: ResourceRow[] = await this.dataSource.query(
      `SELECT ${RESOURCE_COLUMNS} FROM galley_resources WHERE kind = $1 AND namespace = $2 AND name = $3`,
      [key.kind, key.namespace, key.name],
    );
    return row ? toResource(row) : undefined;
  }

  /** Live resources ordered by kind, namespace, name. */
  async list(filter: ResourceFilter = {}): Promise<StoredResource[]> {
    const rows: ResourceRow[] = await this.dataSource.query(
      `SELECT ${RESOURCE_COLUMNS} FROM galley_resources
        WHERE ($1::text[] IS NULL OR kind = ANY($1)) AND ($2::text IS NULL OR namespace = $2)
        ORDER BY kind, namespace, name`,
      [filter.kinds?.length ? filter.kinds : null, filter.namespace ?? null],
    );
    const selector = filter.selector ?? [];
    return rows
      .filter((row) =>
        matchesSelector((row.object.metadata as { labels?: Record<string, string> }).labels ?? {}, selector),
      )
      .map(toResource);
  }

  /** The retained changes of one resource, oldest first (deleted resources included). */
  async history(key: ResourceKey): Promise<ChangeRecord[]> {
    const rows: ChangeRow[] = await this.dataSource.query(
      `SELECT ${CHANGE_COLUMNS} FROM galley_changes WHERE kind = $1 AND namespace = $2 AND name = $3 ORDER BY version`,
      [key.kind, key.namespace, key.name],
    );
    return rows.map(toChange);
  }

  /** Up to `limit` changes with a version above `after`, in version order. */
  async changesAfter(after: number, kinds: readonly string[] = [], limit = 500): Promise<ChangeRecord[]> {
    const rows: ChangeRow[] = await this.dataSource.query(
      `SELECT ${CHANGE_COLUMNS} FROM galley_changes
        WHERE version > $1 AND ($2::text[] IS NULL OR kind = ANY($2))
        ORDER BY version LIMIT $3`,
      [after, kinds.length ? kinds : null, limit],
    );
    return rows.map(toChange);
  }

  async state(): Promise<VersionState> {
    const [row] = await this.dataSource.query(
      `SELECT current_version, compacted_version FROM galley_state WHERE id = 1`,
    );
    return { current: Number(row?.current_version ?? 0), compacted: Number(row?.compacted_version ?? 0) };
  }

  /** The distinct sources of live resources that start with `prefix` (e.g. `file:`). */
  async sources(prefix: string): Promise<string[]> {
    const rows: { source: string }[] = await this.dataSource.query(
      `SELECT DISTINCT source FROM galley_resources WHERE starts_with(source, $1) ORDER BY source`,
      [prefix],
    );
    return rows.map((row) => row.source);
  }

  /** A consistent snapshot: the live resources exactly as of `version`. */
  async snapshot(kinds: readonly string[] = []): Promise<{ version: number; resources: StoredResource[] }> {
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      const [state] = await manager.query(`SELECT current_version FROM galley_state WHERE id = 1`);
      const rows: ResourceRow[] = await manager.query(
        `SELECT ${RESOURCE_COLUMNS} FROM galley_resources WHERE ($1::text[] IS NULL OR kind = ANY($1))
          ORDER BY kind, namespace, name`,
        [kinds.length ? kinds : null],
      );
      return { version: Number(state?.current_version ?? 0), resources: rows.map(toResource) };
    });
  }
}
