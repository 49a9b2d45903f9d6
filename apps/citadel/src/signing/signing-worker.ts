/**
 * A signing worker thread: parses and checks CSRs and issues certificates with libs/pki, off
 * the main thread (which keeps gRPC, TLS and PostgreSQL). The CA key arrives as a KeyObject
 * through postMessage and never leaves process memory.
 */
import { parentPort } from 'node:worker_threads';
import { isPkiError, loadSigningAuthority, type SigningAuthority } from '#libs/pki';
import { issueOrder } from './signing-core';
import type { IssueReply, NumberedOrder, WorkerReply, WorkerRequest } from './signing-protocol';

/**
 * Finished orders are sent back at least this often while a batch is being worked through:
 * one message per few certificates rather than per certificate, and no order waits for the
 * whole batch.
 */
const REPLY_EVERY_MS = 2;

let authority: { version: number; signer: SigningAuthority } | undefined;

parentPort?.on('message', (message: WorkerRequest) => {
  if (message.type === 'authority') {
    authority = {
      version: message.version,
      signer: loadSigningAuthority(message.certPem, message.privateKey, message.chainPem),
    };
    return;
  }
  issueBatch(message.authorityVersion, message.orders);
});

/** Issues every order of a batch, replying in chunks of at most REPLY_EVERY_MS of work. */
function issueBatch(authorityVersion: number, orders: readonly NumberedOrder[]): void {
  let replies: IssueReply[] = [];
  let since = performance.now();
  for (const order of orders) {
    replies.push(handle(authorityVersion, order));
    if (performance.now() - since >= REPLY_EVERY_MS) {
      send(replies);
      replies = [];
      since = performance.now();
    }
  }
  if (replies.length > 0) send(replies);
}

function send(replies: IssueReply[]): void {
  const message: WorkerReply = { replies };
  parentPort!.postMessage(message);
}

function handle(authorityVersion: number, order: NumberedOrder): IssueReply {
  if (!authority || authority.version !== authorityVersion) return { id: order.id, ok: false, stale: true };
  try {
    return { id: order.id, ok: true, issued: issueOrder(authority.signer, order) };
  } catch (error) {
    if (isPkiError(error)) return { id: order.id, ok: false, pki: { reason: error.reason, message: error.message } };
    return { id: order.id, ok: false, internal: error instanceof Error ? error.message : String(error) };
  }
}
