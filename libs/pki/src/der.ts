/**
 * A minimal, strict DER codec over Buffers: just what X.509 certificates and PKCS#10 requests
 * need. The reader keeps byte offsets so that signed regions (TBSCertificate,
 * CertificationRequestInfo) are verified over the exact bytes received, never a re-encoding.
 * Internal to libs/pki.
 */

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Thrown by the reader on anything that is not strict DER; callers map it to their PkiError reason. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

// ---------------------------------------------------------------- writer

/** One TLV with a single-byte tag and definite, minimal length. */
export function tlv(tag: number, ...content: readonly Buffer[]): Buffer {
  const body = content.length === 1 ? content[0]! : Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const seq = (...content: readonly Buffer[]): Buffer => tlv(Tag.SEQUENCE, ...content);
export const set = (...content: readonly Buffer[]): Buffer => tlv(Tag.SET, ...content);
export const octetString = (bytes: Buffer): Buffer => tlv(Tag.OCTET_STRING, bytes);
export const utf8String = (text: string): Buffer => tlv(Tag.UTF8_STRING, Buffer.from(text, 'utf8'));
export const booleanTrue = (): Buffer => Buffer.from([Tag.BOOLEAN, 1, 0xff]);
export const derNull = (): Buffer => Buffer.from([Tag.NULL, 0]);

/** `[n]` context-specific tag; `constructed` for EXPLICIT tagging or constructed IMPLICIT types. */
export function contextTag(n: number, constructed: boolean, ...content: readonly Buffer[]): Buffer {
  return tlv(0x80 | (constructed ? 0x20 : 0) | n, ...content);
}

/** BIT STRING with `unusedBits` (0-7) padding bits in the last byte. */
export function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(Tag.BIT_STRING, Buffer.from([unusedBits]), bytes);
}

/**
 * INTEGER from an unsigned big-endian magnitude: leading zero bytes are dropped and a 0x00 is
 * prepended when the high bit is set, so the encoding is minimal and the value non-negative.
 */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  const body = trimmed.length > 0 && (trimmed[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return tlv(Tag.INTEGER, body.length === 0 ? Buffer.from([0]) : body);
}

export function smallInteger(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`smallInteger: ${n} is not a non-negative integer`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Buffer.from(bytes.length > 0 ? bytes : [0]));
}

const oidCache = new Map<string, Buffer>();

/** OBJECT IDENTIFIER from dotted form; encodings are cached (OIDs are a small fixed set). */
export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0))
    throw new RangeError(`oid: bad OID ${dotted}`);
  const bytes: number[] = [];
  for (const arc of [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)]) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  const encoded = tlv(Tag.OID, Buffer.from(bytes));
  oidCache.set(dotted, encoded);
  return encoded;
}

/**
 * RFC 5280 Time: UTCTime for years 1950-2049, GeneralizedTime otherwise, always UTC with
 * whole seconds (sub-second precision is truncated).
 */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const year = date.getUTCFullYear();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  if (year >= 1950 && year < 2050) return tlv(Tag.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  if (year < 0 || year > 9999) throw new RangeError(`time: year ${year} cannot be encoded`);
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'ascii'));
}

// ---------------------------------------------------------------- reader

/** One decoded TLV; offsets index `buf`. `raw` spans the whole TLV, `content` the value. */
export interface DerNode {
  readonly tag: number;
  readonly buf: Buffer;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

export const raw = (node: DerNode): Buffer => node.buf.subarray(node.start, node.end);
export const content = (node: DerNode): Buffer => node.buf.subarray(node.contentStart, node.end);

/** Reads the TLV at `offset`, which must end within `limit`. Rejects non-DER lengths and multi-byte tags. */
export function readNode(buf: Buffer, offset = 0, limit = buf.length): DerNode {
  if (offset + 2 > limit) throw new DerError('truncated DER: no room for tag and length');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`unsupported multi-byte DER tag at offset ${offset}`);
  let length = buf[offset + 1]!;
  let contentStart = offset + 2;
  if (length === 0x80) throw new DerError('indefinite-length encoding is not DER');
  if (length > 0x80) {
    const count = length & 0x7f;
    if (count > 4) throw new DerError(`DER length of ${count} bytes is too large`);
    if (contentStart + count > limit) throw new DerError('truncated DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[contentStart + i]!;
    if (length < 0x80 || buf[contentStart] === 0) throw new DerError('non-minimal DER length');
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`truncated DER: value of tag 0x${tag.toString(16)} runs past its container`);
  return { tag, buf, start: offset, contentStart, end };
}

/** Decodes `buf` as exactly one TLV with the expected tag; trailing bytes are an error. */
export function readRoot(buf: Buffer, tag: number): DerNode {
  const node = readNode(buf, 0, buf.length);
  if (node.tag !== tag) throw new DerError(`expected tag 0x${tag.toString(16)} but found 0x${node.tag.toString(16)}`);
  if (node.end !== buf.length) throw new DerError(`${buf.length - node.end} trailing bytes after the DER value`);
  return node;
}

/** The TLVs directly inside a constructed node. */
export function children(node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) throw new DerError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  for (let offset = node.contentStart; offset < node.end;) {
    const child = readNode(node.buf, offset, node.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/** Checks a node's tag, naming `what` in the error. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`${what} is missing`);
  if (node.tag !== tag)
    throw new DerError(`${what} has tag 0x${node.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return node;
}

/** Dotted form of an OBJECT IDENTIFIER node. */
export function readOid(node: DerNode): string {
  const bytes = content(expectTag(node, Tag.OID, 'OBJECT IDENTIFIER'));
  if (bytes.length === 0 || (bytes[bytes.length - 1]! & 0x80) !== 0) throw new DerError('malformed OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    if (value === 0 && byte === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER arc');
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError('OBJECT IDENTIFIER arc too large');
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

/** Contents of a BIT STRING without its unused-bits octet; `unusedBits` must be 0 unless allowed. */
export function readBitString(node: DerNode, allowPadding = false): { bytes: Buffer; unusedBits: number } {
  const body = content(expectTag(node, Tag.BIT_STRING, 'BIT STRING'));
  const unusedBits = body[0];
  if (unusedBits === undefined || unusedBits > 7 || (body.length === 1 && unusedBits !== 0))
    throw new DerError('malformed BIT STRING');
  if (unusedBits !== 0 && !allowPadding) throw new DerError('BIT STRING must be a whole number of bytes');
  return { bytes: body.subarray(1), unusedBits };
}

/** A small non-negative INTEGER (version, pathLen). */
export function readSmallInteger(node: DerNode): number {
  const body = content(expectTag(node, Tag.INTEGER, 'INTEGER'));
  if (body.length === 0 || body.length > 6 || (body[0]! & 0x80) !== 0)
    throw new DerError('INTEGER is not a small non-negative value');
  return body.reduce((acc, byte) => acc * 256 + byte, 0);
}

/** UTCTime or GeneralizedTime in the RFC 5280 form (`...Z`, whole seconds). */
export function readTime(node: DerNode): Date {
  const text = content(node).toString('ascii');
  const match =
    node.tag === Tag.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : node.tag === Tag.GENERALIZED_TIME
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
        : null;
  if (!match) throw new DerError(`malformed time ${JSON.stringify(text)}`);
  const [y, mo, d, h, mi, s] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const year = node.tag === Tag.UTC_TIME ? (y >= 50 ? 1900 + y : 2000 + y) : y;
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d)
    throw new DerError(`invalid date ${JSON.stringify(text)}`);
  return date;
}
