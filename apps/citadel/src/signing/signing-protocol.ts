import type { KeyObject } from 'node:crypto';
import type { PkiErrorReason } from '#libs/pki';
import type { IssueOrder } from './signing-core';

/** Messages between the signing pool and its workers. */
export type WorkerRequest =
  | { type: 'authority'; version: number; certPem: string; privateKey: KeyObject; chainPem: string[] }
  | ({ type: 'issue'; id: number; authorityVersion: number } & IssueOrder);

export interface IssuedWire {
  certPem: string;
  chainPem: string[];
  serialHex: string;
  notBeforeMs: number;
  notAfterMs: number;
  fingerprintSha256: string;
}

export type WorkerReply =
  | { id: number; ok: true; issued: IssuedWire }
  | { id: number; ok: false; stale?: true; pki?: { reason: PkiErrorReason; message: string }; internal?: string };
