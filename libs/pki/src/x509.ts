import {
  children,
  content,
  DerError,
  expectTag,
  raw,
  readBitString,
  readOid,
  readRoot,
  readSmallInteger,
  readTime,
  Tag,
  type DerNode,
} from './der';

/** One extension of a parsed certificate. */
export interface ParsedExtension {
  readonly critical: boolean;
  /** The extnValue OCTET STRING contents (the extension's own DER). */
  readonly value: Buffer;
}

/** The fields of an X.509 certificate that issuance needs, with exact DER where it matters. */
export interface CertificateFields {
  readonly version: number;
  /** INTEGER contents, two's complement as encoded. */
  readonly serial: Buffer;
  /** The outer signatureAlgorithm OID. */
  readonly signatureAlgorithmOid: string;
  readonly issuerDer: Buffer;
  readonly subjectDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spkiDer: Buffer;
  /** subjectPublicKey BIT STRING contents, the input of a method (1) key identifier. */
  readonly subjectPublicKeyBits: Buffer;
  /** By OID; a certificate with the same extension twice is refused. */
  readonly extensions: ReadonlyMap<string, ParsedExtension>;
}

/**
 * Parses an X.509 v1/v3 certificate's DER into the fields libs/pki needs. Signatures are not
 * checked here (node:crypto's X509Certificate does that).
 *
 * @throws DerError on anything that is not a strict-DER certificate.
 */
export function parseCertificateDer(der: Buffer): CertificateFields {
  const [tbs, outerAlg, signature, ...extra] = children(readRoot(der, Tag.SEQUENCE));
  if (extra.length > 0) throw new DerError('Certificate has more than 3 fields');
  expectTag(signature, Tag.BIT_STRING, 'signatureValue');
  const signatureAlgorithmOid = readOid(
    expectTag(children(expectTag(outerAlg, Tag.SEQUENCE, 'signatureAlgorithm'))[0], Tag.OID, 'signature algorithm'),
  );
  const fields = children(expectTag(tbs, Tag.SEQUENCE, 'TBSCertificate'));
  let index = 0;
  let version = 0;
  if (fields[0]?.tag === 0xa0) {
    version = readSmallInteger(expectTag(children(fields[0])[0], Tag.INTEGER, 'version'));
    index = 1;
  }
  const serial = content(expectTag(fields[index], Tag.INTEGER, 'serialNumber'));
  expectTag(fields[index + 1], Tag.SEQUENCE, 'signature');
  const issuer = expectTag(fields[index + 2], Tag.SEQUENCE, 'issuer');
  const [notBefore, notAfter] = children(expectTag(fields[index + 3], Tag.SEQUENCE, 'validity'));
  const subject = expectTag(fields[index + 4], Tag.SEQUENCE, 'subject');
  const spki = expectTag(fields[index + 5], Tag.SEQUENCE, 'subjectPublicKeyInfo');
  const [, subjectPublicKey] = children(spki);
  const optional = fields.slice(index + 6);
  const extensionsNode = optional.find((node) => node.tag === 0xa3);
  return {
    version,
    serial: Buffer.from(serial),
    signatureAlgorithmOid,
    issuerDer: Buffer.from(raw(issuer)),
    subjectDer: Buffer.from(raw(subject)),
    notBefore: readTime(expectTag(notBefore, notBefore?.tag ?? -1, 'notBefore')),
    notAfter: readTime(expectTag(notAfter, notAfter?.tag ?? -1, 'notAfter')),
    spkiDer: Buffer.from(raw(spki)),
    subjectPublicKeyBits: Buffer.from(
      readBitString(expectTag(subjectPublicKey, Tag.BIT_STRING, 'subjectPublicKey')).bytes,
    ),
    extensions: extensionsNode ? readExtensions(extensionsNode) : new Map(),
  };
}

function readExtensions(wrapper: DerNode): Map<string, ParsedExtension> {
  const map = new Map<string, ParsedExtension>();
  const [list] = children(wrapper);
  for (const ext of children(expectTag(list, Tag.SEQUENCE, 'extensions'))) {
    const parts = children(expectTag(ext, Tag.SEQUENCE, 'extension'));
    const extOid = readOid(expectTag(parts[0], Tag.OID, 'extnID'));
    const critical = parts.length === 3 && parts[1]!.tag === Tag.BOOLEAN && content(parts[1]!)[0] === 0xff;
    const value = expectTag(parts[parts.length - 1], Tag.OCTET_STRING, 'extnValue');
    if (map.has(extOid)) throw new DerError(`extension ${extOid} appears twice`);
    map.set(extOid, { critical, value: Buffer.from(content(value)) });
  }
  return map;
}
