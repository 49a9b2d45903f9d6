import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/**
 * The live config resources: one row per (kind, namespace, name), holding the whole document
 * as applied (unknown fields included) at its latest resource version.
 */
@Entity({ name: 'galley_resources' })
export class GalleyResource {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  kind!: string;

  @PrimaryColumn({ type: 'varchar', length: 63 })
  namespace!: string;

  @PrimaryColumn({ type: 'varchar', length: 253 })
  name!: string;

  @Column({ name: 'api_version', type: 'varchar', length: 128 })
  apiVersion!: string;

  /** The global version of the change that produced this content (a bigint, read as a string). */
  @Index('uq_galley_resources_resource_version', { unique: true })
  @Column({ name: 'resource_version', type: 'bigint' })
  resourceVersion!: string;

  @Column({ type: 'jsonb' })
  labels!: Record<string, string>;

  /** The document, with `metadata.resourceVersion` set to `resourceVersion`. */
  @Column({ type: 'jsonb' })
  object!: Record<string, unknown>;

  /** Who manages it: `api`, or `file:<path relative to GALLEY_CONFIG_DIR>`. */
  @Index('ix_galley_resources_source')
  @Column({ type: 'varchar', length: 1024 })
  source!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
