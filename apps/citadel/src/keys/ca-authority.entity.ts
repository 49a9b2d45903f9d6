import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type AuthorityRole = 'root' | 'intermediate';
/** pending: trusted, not yet signing; active: signing (or the root above the signer); retired: trusted until `trustedUntil`. */
export type AuthorityStatus = 'pending' | 'active' | 'retired';

/**
 * A CA certificate and its private key, encrypted with the KEK (AES-256-GCM). The key is
 * never returned by any API; `kekId` tells a wrong KEK from corrupted data.
 */
@Entity({ name: 'citadel_authorities' })
@Check('ck_citadel_authorities_role', `"role" IN ('root', 'intermediate')`)
@Check('ck_citadel_authorities_status', `"status" IN ('pending', 'active', 'retired')`)
@Index('ix_citadel_authorities_role_status', ['role', 'status'])
export class CaAuthority {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  role!: AuthorityRole;

  @Column({ type: 'varchar', length: 16 })
  status!: AuthorityStatus;

  /** The issuing authority (null for a root). */
  @Column({ name: 'parent_id', type: 'uuid', nullable: true })
  parentId!: string | null;

  /** `self-signed` (created by Citadel) or `plugged-in` (supplied by an operator). */
  @Column({ type: 'varchar', length: 16 })
  origin!: 'self-signed' | 'plugged-in';

  /** The certificate; for a plugged-in intermediate, followed by those between it and its root. */
  @Column({ name: 'cert_pem', type: 'text' })
  certPem!: string;

  /** nonce (12 bytes) || ciphertext || tag (16 bytes) of the PKCS#8 DER private key; empty for a plugged-in root (its key stays with the operator). */
  @Column({ name: 'key_ciphertext', type: 'bytea' })
  keyCiphertext!: Buffer;

  /** First 16 hex digits of SHA-256(KEK): which KEK encrypted the key. */
  @Column({ name: 'kek_id', type: 'char', length: 16 })
  kekId!: string;

  @Column({ name: 'serial_hex', type: 'varchar', length: 64 })
  serialHex!: string;

  @Column({ name: 'not_before', type: 'timestamptz' })
  notBefore!: Date;

  @Column({ name: 'not_after', type: 'timestamptz' })
  notAfter!: Date;

  /** For a retired root: it stays in the trust bundle until every leaf under it has expired. */
  @Column({ name: 'trusted_until', type: 'timestamptz', nullable: true })
  trustedUntil!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
