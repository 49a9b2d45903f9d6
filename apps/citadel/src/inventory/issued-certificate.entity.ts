import { Check, Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

export type CertificateStatus = 'active' | 'revoked';

/** Every certificate Citadel issued: never a private key (Citadel never sees one). */
@Entity({ name: 'citadel_certificates' })
@Check('ck_citadel_certificates_status', `"status" IN ('active', 'revoked')`)
@Index('ix_citadel_certificates_spiffe_id', ['spiffeId'])
@Index('ix_citadel_certificates_not_after', ['notAfter'])
export class IssuedCertificate {
  /** Uppercase hex, as `openssl x509 -serial` and node:crypto print it. */
  @PrimaryColumn({ name: 'serial_hex', type: 'varchar', length: 64 })
  serialHex!: string;

  @Column({ name: 'spiffe_id', type: 'varchar', length: 2048 })
  spiffeId!: string;

  @Column({ name: 'not_before', type: 'timestamptz' })
  notBefore!: Date;

  @Column({ name: 'not_after', type: 'timestamptz' })
  notAfter!: Date;

  /** SHA-256 of the DER, colon-separated uppercase hex. */
  @Column({ name: 'fingerprint_sha256', type: 'varchar', length: 95 })
  fingerprintSha256!: string;

  @Column({ name: 'issuer_id', type: 'uuid' })
  issuerId!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: CertificateStatus;

  /** `join-token` or `certificate` (a renewal over mTLS). */
  @Column({ name: 'auth_method', type: 'varchar', length: 16 })
  authMethod!: 'join-token' | 'certificate' | 'internal';

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @Column({ name: 'revocation_reason', type: 'varchar', length: 64, nullable: true })
  revocationReason!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
