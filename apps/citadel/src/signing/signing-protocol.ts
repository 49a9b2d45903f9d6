import type { KeyObject } from 'node:crypto';
import type { PkiErrorReason } from '#libs/pki';
import type { IssueOrder } from './signing-core';

/** One order as a worker receives it: the pool's id for the reply, and what to issue. */
export type NumberedOrder = { id: number } & IssueOrder;

/**
 * Messages from the signing pool to a worker: the CA to sign with (re-sent on every change),
 * or the orders dispatched to that worker during one event-loop turn, in one message.
 */
export type WorkerRequest =
  | { type: 'authority'; version: number; certPem: string; privateKey: KeyObject; chainPem: string[] }
  | { type: 'issue'; authorityVersion: number; orders: NumberedOrder[] };

export interface IssuedWire {
  certPem: string;
  chainPem: string[];
  serialHex: string;
  notBeforeMs: number;
  notAfterMs: number;
  fingerprintSha256: string;
}

/** The outcome of one order. */
export type IssueReply =
  | { id: number; ok: true; issued: IssuedWire }
  | { id: number; ok: false; stale?: true; pki?: { reason: PkiErrorReason; message: string }; internal?: string };

/** Messages from a worker: the outcomes of the orders it finished since its last message. */
export interface WorkerReply {
  replies: IssueReply[];
}
