import { Logger } from '@nestjs/common';
import { X509Certificate } from 'node:crypto';
import { type DataSource, type EntityManager, MoreThan } from 'typeorm';
import {
  createIntermediateCa,
  createRootCa,
  loadSigningAuthority,
  splitPemCertificates,
  type CaKeyType,
  type CreatedCa,
} from '#libs/pki';
import { CaAuthority, type AuthorityRole, type AuthorityStatus } from './ca-authority.entity';
import { type Kek, openPrivateKey, sealPrivateKey } from './kek';
import { installPlugIn, type ValidatedPlugIn } from './plug-in';
import { CitadelError } from '../errors';
import type { LoadedAuthorities } from './certificate-authority';

/** Serialises CA creation and rotation across replicas. */
export const CA_LOCK = 0x62776c02;

export interface CaParams {
  /** Operator-supplied CA (CITADEL_CA_DIR), installed at start-up if it is not the signer yet. */
  plugIn?: ValidatedPlugIn;
  kek: Kek;
  trustDomain: string;
  keyType: CaKeyType;
  rootTtlSeconds: number;
  intermediateTtlSeconds: number;
  now: Date;
}

/**
 * Loads the active root and intermediate from PostgreSQL, creating them on first start
 * (self-signed mode). Two replicas starting at once create one CA (advisory lock).
 */
export async function bootstrapAuthorities(dataSource: DataSource, params: CaParams): Promise<LoadedAuthorities> {
  const logger = new Logger('CaBootstrap');
  await dataSource.transaction(async (manager) => {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [CA_LOCK]);
    const current = await findOne(manager, 'intermediate', 'active');
    if (params.plugIn) {
      const wanted = params.plugIn.authority.certificate.fingerprint256;
      if (current && new X509Certificate(splitPemCertificates(current.certPem)[0]).fingerprint256 === wanted) return;
      const installed = await installPlugIn(manager, params.plugIn, params.kek, params.now);
      logger.log({ msg: 'installed the plugged-in CA from CITADEL_CA_DIR', intermediate: installed.serialHex });
      return;
    }
    if (current) return;
    const root = (await findOne(manager, 'root', 'active')) ?? (await createRoot(manager, params, 'active'));
    const intermediate = await createIntermediate(manager, root, params, 'active');
    logger.log({
      msg: 'created a self-signed CA',
      root: root.serialHex,
      intermediate: intermediate.serialHex,
      keyType: params.keyType,
    });
  });
  return loadAuthorities(dataSource.manager, params.kek, params.now);
}

/** Reads the current signer and trust bundle (no creation); keys opened with the KEK. */
export async function loadAuthorities(manager: EntityManager, kek: Kek, now: Date): Promise<LoadedAuthorities> {
  const repo = manager.getRepository(CaAuthority);
  const intermediate = await findOne(manager, 'intermediate', 'active');
  if (!intermediate?.parentId) throw new CitadelError('CA_NOT_READY', 'no active intermediate CA');
  const parent = await repo.findOneByOrFail({ id: intermediate.parentId });
  // A plugged-in intermediate's cert_pem also carries the certificates between it and its root.
  const [certPem, ...middle] = splitPemCertificates(intermediate.certPem);
  return {
    signer: loadSigningAuthority(certPem, open(intermediate, kek), [...middle, parent.certPem]),
    signerId: intermediate.id,
    rootPems: await trustedRootPems(manager, now),
  };
}

/** The trust bundle: pending and active roots, and retired roots until their last leaf expires. */
export async function trustedRootPems(manager: EntityManager, now: Date): Promise<string[]> {
  const roots = await manager.getRepository(CaAuthority).find({
    where: [
      { role: 'root', status: 'active' },
      { role: 'root', status: 'pending' },
      { role: 'root', status: 'retired', trustedUntil: MoreThan(now) },
    ],
    order: { notBefore: 'ASC' },
  });
  return roots.map((r) => r.certPem);
}

export async function findOne(
  manager: EntityManager,
  role: AuthorityRole,
  status: AuthorityStatus,
): Promise<CaAuthority | null> {
  return manager.getRepository(CaAuthority).findOne({ where: { role, status }, order: { createdAt: 'DESC' } });
}

export async function createRoot(
  manager: EntityManager,
  params: CaParams,
  status: AuthorityStatus,
): Promise<CaAuthority> {
  const created = createRootCa({
    keyType: params.keyType,
    commonName: 'Bowline Root CA',
    organization: params.trustDomain,
    ttlSeconds: params.rootTtlSeconds,
    now: params.now,
  });
  return save(manager, created, { role: 'root', parentId: null, status }, params.kek);
}

export async function createIntermediate(
  manager: EntityManager,
  root: CaAuthority,
  params: CaParams,
  status: AuthorityStatus,
): Promise<CaAuthority> {
  if (root.keyCiphertext.length === 0) {
    throw new CitadelError(
      'CA_INVALID',
      'the active root is plugged in without its key: plug in a new intermediate instead',
    );
  }
  const parent = loadSigningAuthority(root.certPem, open(root, params.kek), []);
  const created = createIntermediateCa({
    parent,
    keyType: params.keyType,
    commonName: 'Bowline Intermediate CA',
    organization: params.trustDomain,
    ttlSeconds: params.intermediateTtlSeconds,
    now: params.now,
  });
  return save(manager, created, { role: 'intermediate', parentId: root.id, status }, params.kek);
}

async function save(
  manager: EntityManager,
  created: CreatedCa,
  placement: { role: AuthorityRole; parentId: string | null; status: AuthorityStatus },
  kek: Kek,
): Promise<CaAuthority> {
  const x509 = new X509Certificate(created.certPem);
  const repo = manager.getRepository(CaAuthority);
  return repo.save(
    repo.create({
      ...placement,
      origin: 'self-signed',
      certPem: created.certPem,
      keyCiphertext: sealPrivateKey(kek, created.privateKey),
      kekId: kek.id,
      serialHex: x509.serialNumber,
      notBefore: new Date(x509.validFrom),
      notAfter: new Date(x509.validTo),
      trustedUntil: null,
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
