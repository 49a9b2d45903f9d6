/** PEM (RFC 7468) encoding and strict decoding. */

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

/** One decoded PEM block. */
export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

/** Encodes DER as PEM with 64-character lines and a trailing newline. */
export function encodePem(label: string, der: Buffer): string {
  const base64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * Every PEM block in `text`, in order. Text between blocks (comments, `openssl` "Bag
 * Attributes") is ignored; a block whose body is not canonical base64 is an error.
 *
 * @throws Error naming the block's label and position when a body is not base64.
 */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const label = match[1]!;
    const body = match[2]!.replace(/\s+/g, '');
    if (body.length === 0 || body.length % 4 !== 0 || !BASE64_BODY.test(body)) {
      throw new Error(`PEM block ${blocks.length + 1} (${label}) does not contain valid base64`);
    }
    blocks.push({ label, der: Buffer.from(body, 'base64') });
  }
  return blocks;
}

/**
 * Splits a PEM bundle (Istio `cert-chain.pem`, `root-cert.pem`) into one PEM string per
 * CERTIFICATE block, in order; other blocks are dropped. Re-encodes each block canonically.
 */
export function splitPemCertificates(bundle: string): string[] {
  return decodePemBlocks(bundle)
    .filter((block) => block.label === 'CERTIFICATE')
    .map((block) => encodePem('CERTIFICATE', block.der));
}
