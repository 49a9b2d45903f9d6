import type { Kind, ResourceKey } from '../resources/kinds';
import type { ChangeOperation } from './resource-change.entity';

/** A live resource as the store returns it. */
export interface StoredResource extends ResourceKey {
  apiVersion: string;
  resourceVersion: number;
  source: string;
  object: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

/** One entry of the change log. */
export interface ChangeRecord extends ResourceKey {
  version: number;
  operation: ChangeOperation;
  source: string;
  object: Record<string, unknown>;
  changedAt: Date;
}

export interface ResourceRow {
  kind: string;
  namespace: string;
  name: string;
  api_version: string;
  resource_version: string;
  source: string;
  object: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

export interface ChangeRow {
  version: string;
  kind: string;
  namespace: string;
  name: string;
  operation: ChangeOperation;
  source: string;
  object: Record<string, unknown>;
  changed_at: Date;
}

export const RESOURCE_COLUMNS = `kind, namespace, name, api_version, resource_version, source, object, created_at, updated_at`;
export const CHANGE_COLUMNS = `version, kind, namespace, name, operation, source, object, changed_at`;

export function toResource(row: ResourceRow): StoredResource {
  return {
    kind: row.kind as Kind,
    namespace: row.namespace,
    name: row.name,
    apiVersion: row.api_version,
    resourceVersion: Number(row.resource_version),
    source: row.source,
    object: row.object,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toChange(row: ChangeRow): ChangeRecord {
  return {
    version: Number(row.version),
    kind: row.kind as Kind,
    namespace: row.namespace,
    name: row.name,
    operation: row.operation,
    source: row.source,
    object: row.object,
    changedAt: row.changed_at,
  };
}

/** The channel every write NOTIFYs (payload: the new version) in the writing transaction. */
export const CHANGES_CHANNEL = 'galley_changes';
