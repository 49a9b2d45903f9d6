import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, readSecretFile } from '#libs/config';

/** The key-encryption key that seals CA private keys at rest. */
export interface Kek {
  readonly key: Buffer;
  /** First 16 hex digits of SHA-256(key): tells which KEK sealed a key without revealing it. */
  readonly id: string;
  /** Where it came from, for the start-up log (never the key). */
  readonly source: 'BOWLINE_CA_KEK' | 'dev-file';
}

const AAD = Buffer.from('bowline/citadel/ca-key/v1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function kekFromBytes(key: Buffer, source: Kek['source']): Kek {
  return Object.freeze({ key, id: createHash('sha256').update(key).digest('hex').slice(0, 16), source });
}

/**
 * The configured KEK, or in development the one in CITADEL_DEV_KEK_FILE (generated on first
 * use). Without either, start-up stops: CA keys are never stored unencrypted.
 */
export function resolveKek(config: { kek?: Buffer; devKekFile?: string }): Kek {
  if (config.kek) return kekFromBytes(config.kek, 'BOWLINE_CA_KEK');
  if (!config.devKekFile) {
    throw new ConfigError([
      'BOWLINE_CA_KEK is required: expected 32 random bytes as 64 hex digits or base64 (openssl rand -base64 32); ' +
        'for development only, set CITADEL_DEV_KEK_FILE to a path where Citadel may generate one',
    ]);
  }
  if (!existsSync(config.devKekFile)) {
    mkdirSync(dirname(config.devKekFile), { recursive: true, mode: 0o700 });
    writeFileSync(config.devKekFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    chmodSync(config.devKekFile, 0o600);
  }
  const key = Buffer.from(readSecretFile(config.devKekFile), 'base64');
  if (key.length !== 32) {
    throw new ConfigError([
      `CITADEL_DEV_KEK_FILE ${JSON.stringify(config.devKekFile)}: does not hold a base64 256-bit key`,
    ]);
  }
  return kekFromBytes(key, 'dev-file');
}

/** Seals a private key: nonce || AES-256-GCM(PKCS#8 DER) || tag. */
export function sealPrivateKey(kek: Kek, privateKey: KeyObject): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek.key, nonce).setAAD(AAD);
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const sealed = Buffer.concat([nonce, cipher.update(der), cipher.final(), cipher.getAuthTag()]);
  der.fill(0);
  return sealed;
}

/** Opens a sealed key; throws if the KEK is wrong or the data was altered (GCM authentication). */
export function openPrivateKey(kek: Kek, sealed: Buffer): KeyObject {
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', kek.key, nonce).setAAD(AAD).setAuthTag(tag);
  const der = Buffer.concat([decipher.update(body), decipher.final()]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}
