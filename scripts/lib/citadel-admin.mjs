// What a sidecar needs from Citadel's admin API before it starts, fetched with an admin token:
// a join token for its namespace and service account, and the trust bundle (PEM) it trusts for
// its first contact with Citadel. Used by `npm start` and scripts/mint-join-token.mjs.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A call to Citadel's admin API failed; `message` says which call and why. */
export class CitadelAdminError extends Error {}

/** The admin token: `token` if given, else the first line of `file`. */
export async function readAdminToken({ token, file }) {
  if (token) return token.trim();
  if (!file) throw new CitadelAdminError('no admin token: set BOWLINE_ADMIN_TOKEN or name a file holding one');
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CitadelAdminError(`cannot read the admin token file ${file} (${error.code ?? error.message})`);
  }
  const value = text.split('\n')[0].trim();
  if (!value) throw new CitadelAdminError(`the admin token file ${file} is empty`);
  return value;
}

/**
 * Mints a join token (`POST /v1/join-tokens`, role `operator`) and returns the secret with the
 * token's record (id, identity, expiry, uses).
 */
export async function mintJoinToken({ citadelUrl, adminToken, namespace, serviceAccount, maxUses, ttlSeconds }) {
  const body = { namespace, serviceAccount };
  if (maxUses !== undefined) body.maxUses = maxUses;
  if (ttlSeconds !== undefined) body.ttlSeconds = ttlSeconds;
  const response = await call(citadelUrl, adminToken, 'POST', '/v1/join-tokens', body);
  if (response.status !== 201) {
    throw new CitadelAdminError(
      `minting a join token for ${namespace}/${serviceAccount}: HTTP ${response.status} ${problem(response.text)}`,
    );
  }
  const minted = JSON.parse(response.text);
  if (typeof minted.token !== 'string' || !minted.token) {
    throw new CitadelAdminError('minting a join token: the answer carries no token');
  }
  return minted;
}

/** The trust bundle as PEM roots (`GET /v1/trust-bundle`, role `viewer`). */
export async function fetchTrustBundle({ citadelUrl, adminToken }) {
  const response = await call(citadelUrl, adminToken, 'GET', '/v1/trust-bundle');
  if (response.status !== 200) {
    throw new CitadelAdminError(`fetching the trust bundle: HTTP ${response.status} ${problem(response.text)}`);
  }
  if (!response.text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CitadelAdminError('fetching the trust bundle: the answer holds no PEM certificate');
  }
  return response.text;
}

/** Waits until Citadel's `/readyz` answers 200, for at most `timeoutMs`. */
export async function waitForCitadel(citadelUrl, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    try {
      const response = await fetch(new URL('/readyz', citadelUrl));
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error.cause?.code ?? error.cause?.message ?? error.message;
    }
    if (Date.now() >= deadline) throw new CitadelAdminError(`Citadel at ${citadelUrl} is not ready (${last})`);
    await sleep(500);
  }
}

/** Writes `content` to `path` atomically with `mode` (0600 for secrets), creating the directory. */
export async function writeFileAtomically(path, content, mode) {
  const target = resolve(path);
  await mkdir(dirname(target), { recursive: true });
  const temporary = `${target}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode });
  await chmod(temporary, mode);
  await rename(temporary, target);
}

async function call(citadelUrl, adminToken, method, path, body) {
  const headers = { authorization: `Bearer ${adminToken}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(new URL(path, citadelUrl), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new CitadelAdminError(
      `${method} ${path} on ${citadelUrl}: ${error.cause?.code ?? error.cause?.message ?? error.message}`,
    );
  }
  return { status: response.status, text: await response.text() };
}

/** The `detail` (or `title`) of a problem+json answer, else the start of the body. */
function problem(text) {
  try {
    const parsed = JSON.parse(text);
    return parsed.detail ?? parsed.title ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
