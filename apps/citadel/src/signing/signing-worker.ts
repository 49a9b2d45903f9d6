/**
 * A signing worker thread: parses and checks CSRs and issues certificates with libs/pki, off
 * the main thread (which keeps gRPC, TLS and PostgreSQL). The CA key arrives as a KeyObject
 * through postMessage and never leaves process memory.
 */
import { parentPort } from 'node:worker_threads';
import { isPkiError, loadSigningAuthority, type SigningAuthority } from '#libs/pki';
import { issueOrder } from './signing-core';
import type { WorkerReply, WorkerRequest } from './signing-protocol';

let authority: { version: number; signer: SigningAuthority } | undefined;

parentPort?.on('message', (message: WorkerRequest) => {
  if (message.type === 'authority') {
    authority = {
      version: message.version,
      signer: loadSigningAuthority(message.certPem, message.privateKey, message.chainPem),
    };
    return;
  }
  parentPort!.postMessage(handle(message));
});

function handle(request: Extract<WorkerRequest, { type: 'issue' }>): WorkerReply {
  if (!authority || authority.version !== request.authorityVersion) return { id: request.id, ok: false, stale: true };
  try {
    return { id: request.id, ok: true, issued: issueOrder(authority.signer, request) };
  } catch (error) {
    if (isPkiError(error)) return { id: request.id, ok: false, pki: { reason: error.reason, message: error.message } };
    return { id: request.id, ok: false, internal: error instanceof Error ? error.message : String(error) };
  }
}
