import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EntityManager, In } from 'typeorm';
import { loadSigningAuthority, splitPemCertificates, type SigningAuthority } from '#libs/pki';
import { CitadelError, fromPkiError } from '../errors';
import { IssuedCertificate } from '../inventory/issued-certificate.entity';
import { CaAuthority } from './ca-authority.entity';
import { type Kek, sealPrivateKey } from './kek';

/** Operator-supplied CA material, named after Istio's `cacerts` files. */
export interface PluggedInCa {
  /** ca-cert.pem: the intermediate Citadel signs with. */
  caCert: string;
  /** ca-key.pem: its private key (PKCS#1, SEC1 or PKCS#8 PEM). */
  caKey: string;
  /** cert-chain.pem: from ca-cert (optional first element) up to the root. */
  certChain?: string;
  /** root-cert.pem: the self-signed root. */
  rootCert: string;
}

/** Reads Istio's cacerts files from `dir`; cert-chain.pem is optional. */
export function readCaDir(dir: string): PluggedInCa {
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch (error) {
      throw new CitadelError('CA_INVALID', `CITADEL_CA_DIR: cannot read ${join(dir, name)}`, { cause: error });
    }
  };
  const chainFile = join(dir, 'cert-chain.pem');
  return {
    caCert: read('ca-cert.pem'),
    caKey: read('ca-key.pem'),
    certChain: existsSync(chainFile) ? read('cert-chain.pem') : undefined,
    rootCert: read('root-cert.pem'),
  };
}

export interface ValidatedPlugIn {
  authority: SigningAuthority;
  key: KeyObject;
  /** PEMs between the intermediate and the root (exclusive), issuer first. */
  middle: string[];
  rootPem: string;
}

/**
 * Checks plugged-in material the way Istio's plug-in CA expects it and names the first thing
 * wrong: PEM, key matches certificate, CA flag and keyCertSign, chain verifies up to root-cert.
 */
export function validatePlugIn(material: PluggedInCa): ValidatedPlugIn {
  let key: KeyObject;
  try {
    key = createPrivateKey(material.caKey);
  } catch (error) {
    throw new CitadelError('CA_INVALID', 'ca-key.pem is not a readable private key (PEM)', { cause: error });
  }
  const roots = splitPemCertificates(material.rootCert);
  if (roots.length !== 1)
    throw new CitadelError('CA_INVALID', `root-cert.pem must hold exactly one certificate (found ${roots.length})`);
  const rootPem = roots[0];
  const chain = material.certChain ? splitPemCertificates(material.certChain) : [];
  const caPem = splitPemCertificates(material.caCert)[0];
  if (!caPem) throw new CitadelError('CA_INVALID', 'ca-cert.pem holds no certificate');
  const withoutSelf = chain[0] && fingerprint(chain[0]) === fingerprint(caPem) ? chain.slice(1) : chain;
  const endsAtRoot =
    withoutSelf.length > 0 && fingerprint(withoutSelf[withoutSelf.length - 1]) === fingerprint(rootPem);
  const middle = endsAtRoot ? withoutSelf.slice(0, -1) : withoutSelf;
  let authority: SigningAuthority;
  try {
    authority = loadSigningAuthority(caPem, key, [...middle, rootPem]);
  } catch (error) {
    fromPkiError(error);
  }
  return { authority, key, middle, rootPem };
}

/**
 * Makes validated material the signing CA (in the caller's transaction): the root joins the
 * bundle (or is reused when already known), the old root stays trusted until its last leaf
 * expires, the previous intermediate retires.
 */
export async function installPlugIn(
  manager: EntityManager,
  plugIn: ValidatedPlugIn,
  kek: Kek,
  now: Date,
): Promise<CaAuthority> {
  const repo = manager.getRepository(CaAuthority);
  const rootX509 = new X509Certificate(plugIn.rootPem);
  const known = (await repo.find({ where: { role: 'root' } })).find(
    (r) => fingerprint(r.certPem) === rootX509.fingerprint256,
  );
  const oldRoot = await repo.findOne({ where: { role: 'root', status: 'active' } });
  const oldIntermediates = await repo.find({ where: { role: 'intermediate', status: In(['active', 'pending']) } });
  if (oldIntermediates.length > 0)
    await repo.update({ id: In(oldIntermediates.map((i) => i.id)) }, { status: 'retired' });
  const root =
    known ??
    (await repo.save(
      repo.create(
        row(rootX509, plugIn.rootPem, { role: 'root', parentId: null, keyCiphertext: Buffer.alloc(0), kekId: kek.id }),
      ),
    ));
  if (oldRoot && oldRoot.id !== root.id) {
    const last = await manager
      .getRepository(IssuedCertificate)
      .createQueryBuilder('c')
      .select('MAX(c.not_after)', 'max')
      .where({ issuerId: In((await repo.find({ where: { parentId: oldRoot.id } })).map((i) => i.id)) })
      .getRawOne<{ max: Date | null }>();
    const trustedUntil = new Date(Math.max(now.getTime(), last?.max ? new Date(last.max).getTime() : 0));
    await repo.update({ id: oldRoot.id }, { status: 'retired', trustedUntil });
  }
  await repo.update({ id: root.id }, { status: 'active', trustedUntil: null });
  const intermediate = new X509Certificate(plugIn.authority.certPem);
  return repo.save(
    repo.create(
      row(intermediate, [plugIn.authority.certPem, ...plugIn.middle].join(''), {
        role: 'intermediate',
        parentId: root.id,
        keyCiphertext: sealPrivateKey(kek, plugIn.key),
        kekId: kek.id,
      }),
    ),
  );
}

function row(
  x509: X509Certificate,
  certPem: string,
  fields: Pick<CaAuthority, 'role' | 'parentId' | 'keyCiphertext' | 'kekId'>,
): Partial<CaAuthority> {
  return {
    ...fields,
    status: 'active',
    origin: 'plugged-in',
    certPem,
    serialHex: x509.serialNumber,
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    trustedUntil: null,
  };
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}
