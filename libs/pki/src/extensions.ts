import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import {
  bitString,
  booleanTrue,
  children,
  content,
  contextTag,
  DerError,
  expectTag,
  octetString,
  oid,
  readBitString,
  readRoot,
  readSmallInteger,
  seq,
  smallInteger,
  Tag,
  tlv,
} from './der';

/** Extension OIDs (RFC 5280 section 4.2). */
export const ExtOid = {
  SUBJECT_KEY_IDENTIFIER: '2.5.29.14',
  KEY_USAGE: '2.5.29.15',
  SUBJECT_ALT_NAME: '2.5.29.17',
  BASIC_CONSTRAINTS: '2.5.29.19',
  AUTHORITY_KEY_IDENTIFIER: '2.5.29.35',
  EXT_KEY_USAGE: '2.5.29.37',
} as const;

/** keyUsage bit numbers (RFC 5280: digitalSignature(0) ... cRLSign(6)). */
export const KeyUsageBit = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
export function extension(extOid: string, critical: boolean, valueDer: Buffer): Buffer {
  return critical ? seq(oid(extOid), booleanTrue(), octetString(valueDer)) : seq(oid(extOid), octetString(valueDer));
}

/** basicConstraints; critical. `pathLen` only with `ca`. CA:false encodes as an empty SEQUENCE (DER default). */
export function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  const fields = ca ? [booleanTrue(), ...(pathLen === undefined ? [] : [smallInteger(pathLen)])] : [];
  return extension(ExtOid.BASIC_CONSTRAINTS, true, seq(...fields));
}

/** keyUsage as a DER named BIT STRING (trailing zero bits dropped); critical. */
export function keyUsage(bits: readonly number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[Math.floor(bit / 8)]! |= 0x80 >> (bit % 8);
  const unused = 7 - (highest % 8);
  return extension(ExtOid.KEY_USAGE, true, bitString(bytes, unused));
}

/** extKeyUsage serverAuth + clientAuth (mTLS both ways); not critical. */
export function extKeyUsageMtls(): Buffer {
  return extension(ExtOid.EXT_KEY_USAGE, false, seq(oid(SERVER_AUTH), oid(CLIENT_AUTH)));
}

/** subjectAltName with one URI; critical when the subject is empty (RFC 5280 4.2.1.6). */
export function subjectAltNameUri(uri: string, critical: boolean): Buffer {
  return subjectAltNames({ uri, dnsNames: [], ipAddresses: [] }, critical);
}

/** The names a subjectAltName carries, in the order they are encoded. */
export interface AltNames {
  readonly uri: string;
  readonly dnsNames: readonly string[];
  /** IPv4 or IPv6 literals. */
  readonly ipAddresses: readonly string[];
}

/** subjectAltName: the URI, then dNSName [2] entries, then iPAddress [7] entries. */
export function subjectAltNames(names: AltNames, critical: boolean): Buffer {
  return extension(
    ExtOid.SUBJECT_ALT_NAME,
    critical,
    seq(
      tlv(0x86, Buffer.from(names.uri, 'ascii')),
      ...names.dnsNames.map((name) => tlv(0x82, Buffer.from(name, 'ascii'))),
      ...names.ipAddresses.map((ip) => tlv(0x87, ipBytes(ip))),
    ),
  );
}

/** How node:crypto's `X509Certificate.subjectAltName` prints `names`. */
export function describeAltNames(names: AltNames): string {
  return [
    `URI:${names.uri}`,
    ...names.dnsNames.map((name) => `DNS:${name}`),
    ...names.ipAddresses.map((ip) => `IP Address:${formatIp(ipBytes(ip))}`),
  ].join(', ');
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new RangeError(`not an IP address: ${ip}`);
  const [head, tail = ''] = ip.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = ip.includes('::') ? [...groups(head), ...Array(missing).fill('0'), ...groups(tail)] : groups(head);
  return Buffer.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

function formatIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16).toUpperCase());
  return groups.join(':');
}

export function subjectKeyIdentifier(keyId: Buffer): Buffer {
  return extension(ExtOid.SUBJECT_KEY_IDENTIFIER, false, octetString(keyId));
}

/** authorityKeyIdentifier with only keyIdentifier [0]. */
export function authorityKeyIdentifier(keyId: Buffer): Buffer {
  return extension(ExtOid.AUTHORITY_KEY_IDENTIFIER, false, seq(contextTag(0, false, keyId)));
}

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING contents (no tag, length or unused-bits octet). */
export function keyIdentifier(subjectPublicKeyBits: Buffer): Buffer {
  return createHash('sha1').update(subjectPublicKeyBits).digest();
}

/** Decodes a basicConstraints extnValue. */
export function readBasicConstraints(valueDer: Buffer): { ca: boolean; pathLen?: number } {
  const fields = children(readRoot(valueDer, Tag.SEQUENCE));
  let index = 0;
  let ca = false;
  if (fields[index]?.tag === Tag.BOOLEAN) {
    const flag = content(fields[index]!);
    if (flag.length !== 1 || (flag[0] !== 0xff && flag[0] !== 0)) throw new DerError('malformed BOOLEAN');
    ca = flag[0] === 0xff;
    index++;
  }
  const pathLen = fields[index] === undefined ? undefined : readSmallInteger(fields[index]!);
  if (fields.length > index + (pathLen === undefined ? 0 : 1)) throw new DerError('basicConstraints has extra fields');
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

/** Decodes a keyUsage extnValue into the set of bit numbers that are set. */
export function readKeyUsage(valueDer: Buffer): Set<number> {
  const { bytes, unusedBits } = readBitString(readRoot(valueDer, Tag.BIT_STRING), true);
  const set = new Set<number>();
  const total = bytes.length * 8 - unusedBits;
  for (let bit = 0; bit < total; bit++) if ((bytes[Math.floor(bit / 8)]! & (0x80 >> (bit % 8))) !== 0) set.add(bit);
  return set;
}

/** Decodes a subjectKeyIdentifier extnValue. */
export function readSubjectKeyIdentifier(valueDer: Buffer): Buffer {
  return Buffer.from(
    content(expectTag(readRoot(valueDer, Tag.OCTET_STRING), Tag.OCTET_STRING, 'subjectKeyIdentifier')),
  );
}
