import { Logger } from '@nestjs/common';
import { X509Certificate } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { createIntermediateCa, createRootCa, loadSigningAuthority, type CaKeyType, type CreatedCa } from '#libs/pki';
import { CaAuthority, type AuthorityRole } from './ca-authority.entity';
import { type Kek, openPrivateKey, sealPrivateKey } from './kek';
import { CitadelError } from '../errors';
import type { LoadedAuthorities } from './certificate-authority';

/** Serialises CA creation across replicas: two Citadels starting at once create one CA. */
const CA_BOOTSTRAP_LOCK = 0x62776c02;

export interface BootstrapParams {
  kek: Kek;
  trustDomain: string;
  keyType: CaKeyType;
  rootTtlSeconds: number;
  intermediateTtlSeconds: number;
  now: Date;
}

/**
 * Loads the active root and intermediate from PostgreSQL, creating them on first start
 * (self-signed mode). Keys are opened with the KEK; a different KEK stops start-up.
 */
export async function bootstrapAuthorities(
  dataSource: DataSource,
  params: BootstrapParams,
): Promise<LoadedAuthorities> {
  const logger = new Logger('CaBootstrap');
  return dataSource.transaction(async (manager) => {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [CA_BOOTSTRAP_LOCK]);
    let intermediate = await active(manager, 'intermediate');
    if (!intermediate) {
      const root = (await active(manager, 'root')) ?? (await createRoot(manager, params));
      intermediate = await createIntermediate(manager, root, params);
      logger.log({
        msg: 'created a self-signed CA',
        root: root.serialHex,
        intermediate: intermediate.serialHex,
        keyType: params.keyType,
      });
    }
    const parent = await manager.getRepository(CaAuthority).findOneByOrFail({ id: intermediate.parentId ?? '' });
    const roots = await manager
      .getRepository(CaAuthority)
      .find({ where: { role: 'root' }, order: { notBefore: 'ASC' } });
    const signer = loadSigningAuthority(intermediate.certPem, open(intermediate, params.kek), [parent.certPem]);
    return {
      signer,
      signerId: intermediate.id,
      rootPems: roots.filter((r) => r.status === 'active' || r.notAfter > params.now).map((r) => r.certPem),
    };
  });
}

async function active(manager: EntityManager, role: AuthorityRole): Promise<CaAuthority | null> {
  return manager
    .getRepository(CaAuthority)
    .findOne({ where: { role, status: 'active' }, order: { createdAt: 'DESC' } });
}

async function createRoot(manager: EntityManager, params: BootstrapParams): Promise<CaAuthority> {
  const created = createRootCa({
    keyType: params.keyType,
    commonName: 'Bowline Root CA',
    organization: params.trustDomain,
    ttlSeconds: params.rootTtlSeconds,
    now: params.now,
  });
  return save(manager, created, { role: 'root', parentId: null }, params.kek);
}

async function createIntermediate(
  manager: EntityManager,
  root: CaAuthority,
  params: BootstrapParams,
): Promise<CaAuthority> {
  const parent = loadSigningAuthority(root.certPem, open(root, params.kek), []);
  const created = createIntermediateCa({
    parent,
    keyType: params.keyType,
    commonName: 'Bowline Intermediate CA',
    organization: params.trustDomain,
    ttlSeconds: params.intermediateTtlSeconds,
    now: params.now,
  });
  return save(manager, created, { role: 'intermediate', parentId: root.id }, params.kek);
}

async function save(
  manager: EntityManager,
  created: CreatedCa,
  placement: { role: AuthorityRole; parentId: string | null },
  kek: Kek,
): Promise<CaAuthority> {
  const x509 = new X509Certificate(created.certPem);
  const repo = manager.getRepository(CaAuthority);
  return repo.save(
    repo.create({
      ...placement,
      status: 'active',
      origin: 'self-signed',
      certPem: created.certPem,
      keyCiphertext: sealPrivateKey(kek, created.privateKey),
      kekId: kek.id,
      serialHex: x509.serialNumber,
      notBefore: new Date(x509.validFrom),
      notAfter: new Date(x509.validTo),
    }),
  );
}

function open(authority: CaAuthority, kek: Kek) {
  if (authority.kekId !== kek.id) {
    throw new CitadelError(
      'KEK_MISMATCH',
      `the ${authority.role} CA key in the database was sealed with a different key-encryption key ` +
        `(KEK id ${authority.kekId}; the configured KEK has id ${kek.id}): start Citadel with the KEK it was created with`,
    );
  }
  try {
    return openPrivateKey(kek, authority.keyCiphertext);
  } catch (error) {
    throw new CitadelError('KEK_MISMATCH', `the ${authority.role} CA key could not be decrypted (altered data?)`, {
      cause: error,
    });
  }
}
