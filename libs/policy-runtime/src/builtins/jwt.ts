import {
  constants,
  createHmac,
  createPublicKey,
  type KeyObject,
  timingSafeEqual,
  verify as verifySignature,
} from 'node:crypto';

/**
 * `io.jwt.*` host built-ins with OPA's semantics (topdown/tokens.go): a malformed token or
 * constraints object is a built-in error (the expression is undefined), a bad signature or a
 * failed claim check is `[false, {}, {}]` from `decode_verify` and `false` from `verify_*`.
 */

type Json = unknown;
type Algorithm = { kind: 'hmac' | 'rsa' | 'pss' | 'ecdsa'; hash: 'sha256' | 'sha384' | 'sha512' };

const ALGORITHMS: Record<string, Algorithm> = {
  HS256: { kind: 'hmac', hash: 'sha256' },
  HS384: { kind: 'hmac', hash: 'sha384' },
  HS512: { kind: 'hmac', hash: 'sha512' },
  RS256: { kind: 'rsa', hash: 'sha256' },
  RS384: { kind: 'rsa', hash: 'sha384' },
  RS512: { kind: 'rsa', hash: 'sha512' },
  PS256: { kind: 'pss', hash: 'sha256' },
  PS384: { kind: 'pss', hash: 'sha384' },
  PS512: { kind: 'pss', hash: 'sha512' },
  ES256: { kind: 'ecdsa', hash: 'sha256' },
  ES384: { kind: 'ecdsa', hash: 'sha384' },
  ES512: { kind: 'ecdsa', hash: 'sha512' },
};

/** A JWS in compact form, split but not yet verified. */
interface DecodedToken {
  header: Record<string, Json>;
  payload: Json;
  signature: Buffer;
  signingInput: string;
}

class JwtError extends Error {}

function base64UrlJson(part: string, what: string): Json {
  const text = Buffer.from(part, 'base64url').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new JwtError(`JWT ${what} is not valid JSON`);
  }
}

function decodeToken(token: unknown): DecodedToken {
  if (typeof token !== 'string') throw new JwtError('operand 1 must be a string');
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('encoded JWT must have 3 sections');
  const header = base64UrlJson(parts[0], 'header');
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new JwtError('JWT header must be an object');
  }
  return {
    header: header as Record<string, Json>,
    payload: base64UrlJson(parts[1], 'payload'),
    signature: Buffer.from(parts[2], 'base64url'),
    signingInput: `${parts[0]}.${parts[1]}`,
  };
}

/** `io.jwt.decode(jwt)`: `[header, payload, signature as hex]`, without verifying anything. */
export function jwtDecode(token: unknown): Json {
  const decoded = decodeToken(token);
  if (decoded.header.enc !== undefined) throw new JwtError('JWT is a JWE object, which is not supported');
  return [decoded.header, decoded.payload, decoded.signature.toString('hex')];
}

interface VerificationKey {
  key: KeyObject;
  kid?: string;
  alg?: string;
}

/** Keys from a PEM certificate or public key, a JWK, or a JWK Set (JSON), as OPA accepts in `cert`. */
function keysFromCert(cert: string): VerificationKey[] {
  const text = cert.trim();
  if (text.startsWith('{')) {
    const parsed = JSON.parse(text) as { keys?: Record<string, unknown>[] } & Record<string, unknown>;
    const jwks = Array.isArray(parsed.keys) ? parsed.keys : [parsed];
    return jwks.map((jwk) => ({
      key: createPublicKey({ key: jwk as never, format: 'jwk' }),
      kid: typeof jwk.kid === 'string' ? jwk.kid : undefined,
      alg: typeof jwk.alg === 'string' ? jwk.alg : undefined,
    }));
  }
  const blocks = text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
  if (blocks.length === 0) throw new JwtError('cert: no PEM block or JWK found');
  return blocks.map((block) => ({ key: createPublicKey(block) }));
}

function verifyWith(alg: Algorithm, key: KeyObject | Buffer, signingInput: string, signature: Buffer): boolean {
  const data = Buffer.from(signingInput);
  if (alg.kind === 'hmac') {
    if (!Buffer.isBuffer(key)) return false;
    const expected = createHmac(alg.hash, key).update(data).digest();
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  }
  if (Buffer.isBuffer(key)) return false;
  try {
    if (alg.kind === 'ecdsa') return verifySignature(alg.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    if (alg.kind === 'pss') {
      return verifySignature(
        alg.hash,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
        signature,
      );
    }
    return verifySignature(alg.hash, data, key, signature);
  } catch {
    return false;
  }
}

/** True when the signature verifies with `secret` (HMAC) or one of the keys in `cert`. */
function signatureVerifies(token: DecodedToken, source: { cert?: string; secret?: string }, algName: string): boolean {
  const alg = ALGORITHMS[algName];
  if (!alg) return false;
  if (source.secret !== undefined)
    return verifyWith(alg, Buffer.from(source.secret), token.signingInput, token.signature);
  const keys = keysFromCert(source.cert ?? '');
  const kid = typeof token.header.kid === 'string' ? token.header.kid : undefined;
  const candidates = keys.filter(
    (k) => (kid === undefined || k.kid === undefined || k.kid === kid) && (!k.alg || k.alg === algName),
  );
  return candidates.some((k) => verifyWith(alg, k.key, token.signingInput, token.signature));
}

/** `io.jwt.verify_<alg>(jwt, cert-or-secret)` for one fixed algorithm. */
export function jwtVerifier(algName: string): (token: unknown, keyMaterial: unknown) => boolean {
  const hmac = ALGORITHMS[algName].kind === 'hmac';
  return (token, keyMaterial) => {
    if (typeof keyMaterial !== 'string') throw new JwtError('operand 2 must be a string');
    const decoded = decodeToken(token);
    return signatureVerifies(decoded, hmac ? { secret: keyMaterial } : { cert: keyMaterial }, algName);
  };
}

interface Constraints {
  cert?: string;
  secret?: string;
  alg?: string;
  iss?: string;
  aud?: string;
  timeNs: number;
}

function parseConstraints(value: unknown, nowNs: number): Constraints {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwtError('operand 2 must be an object');
  }
  const constraints: Constraints = { timeNs: nowNs };
  for (const [key, v] of Object.entries(value)) {
    if (key === 'time') {
      if (typeof v !== 'number') throw new JwtError('time constraint: must be a number');
      constraints.timeNs = v;
    } else if (key === 'cert' || key === 'secret' || key === 'alg' || key === 'iss' || key === 'aud') {
      if (typeof v !== 'string') throw new JwtError(`${key} constraint: must be a string`);
      constraints[key] = v;
    } else {
      throw new JwtError(`unknown token validation constraint: ${key}`);
    }
  }
  if ((constraints.cert === undefined) === (constraints.secret === undefined)) {
    throw new JwtError('exactly one of cert or secret must be given');
  }
  return constraints;
}

const UNVERIFIED = [false, {}, {}];

function claimsHold(payload: Record<string, Json>, c: Constraints): boolean {
  if (payload.exp !== undefined) {
    if (typeof payload.exp !== 'number') return false;
    if (c.timeNs >= payload.exp * 1e9) return false;
  }
  if (payload.nbf !== undefined) {
    if (typeof payload.nbf !== 'number') return false;
    if (c.timeNs < payload.nbf * 1e9) return false;
  }
  if (c.iss !== undefined && payload.iss !== c.iss) return false;
  const aud = payload.aud;
  if (aud === undefined) return c.aud === undefined;
  if (c.aud === undefined) return false;
  return typeof aud === 'string' ? aud === c.aud : Array.isArray(aud) && aud.includes(c.aud);
}

/** `io.jwt.decode_verify(jwt, constraints)`: `[valid, header, payload]`. */
export function jwtDecodeVerify(token: unknown, constraintsValue: unknown, nowNs: number): Json {
  const constraints = parseConstraints(constraintsValue, nowNs);
  const decoded = decodeToken(token);
  const algName = typeof decoded.header.alg === 'string' ? decoded.header.alg : '';
  if (!signatureVerifies(decoded, constraints, algName)) return UNVERIFIED;
  if (constraints.alg !== undefined && constraints.alg !== algName) return UNVERIFIED;
  const payload = decoded.payload;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return UNVERIFIED;
  if (!claimsHold(payload as Record<string, Json>, constraints)) return UNVERIFIED;
  return [true, decoded.header, payload];
}

/** Every `io.jwt.verify_<alg>` built-in name this module implements. */
export const JWT_VERIFY_BUILTINS = Object.keys(ALGORITHMS).map((alg) => `io.jwt.verify_${alg.toLowerCase()}`);
