import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SERVICE_CONFIG } from '#libs/host';
import { PkiError } from '#libs/pki';
import type { CitadelConfig } from '../config';
import { CertificateAuthority } from '../keys/certificate-authority';
import { type IssueOrder, issueOrder } from './signing-core';
import type { IssuedWire, IssueReply, NumberedOrder, WorkerReply, WorkerRequest } from './signing-protocol';

interface Pending {
  order: IssueOrder;
  resolve: (issued: IssuedWire) => void;
  reject: (error: Error) => void;
  retried: boolean;
}

/** A worker thread, the orders it is working on, and the ones waiting to be posted to it. */
interface Slot {
  worker: Worker;
  busy: number;
  outbox: NumberedOrder[];
}

/**
 * Issues certificates on worker threads (CITADEL_SIGNING_WORKERS, default: one per core), so
 * restart storms use every core while the main thread serves gRPC, TLS and PostgreSQL. With 0
 * workers, issuance runs on the main thread. The CA key is handed to the workers in memory and
 * re-sent on every CA change (a versioned handshake makes a stale worker refuse, then retry).
 * Orders dispatched during one event-loop turn travel to a worker in one message, and a worker
 * answers a few at a time, so a burst costs a few thread hand-offs rather than two per order.
 */
@Injectable()
export class SigningPool implements OnModuleDestroy {
  private readonly logger = new Logger('SigningPool');
  private readonly workers: Slot[] = [];
  private readonly pending = new Map<number, Pending & { slot: number }>();
  private nextId = 1;
  private version = 1;
  private postScheduled = false;

  constructor(
    @Inject(CertificateAuthority) private readonly ca: CertificateAuthority,
    @Inject(SERVICE_CONFIG) config: CitadelConfig,
  ) {
    for (let i = 0; i < config.signingWorkers; i++) this.workers.push(this.newSlot(i));
    this.ca.onChange(() => this.publishAuthority());
    this.publishAuthority();
  }

  issue(order: IssueOrder): Promise<IssuedWire> {
    if (this.workers.length === 0) {
      try {
        return Promise.resolve(issueOrder(this.ca.signer, order));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    return new Promise((resolve, reject) => this.dispatch({ order, resolve, reject, retried: false }));
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }

  /** Queues an order for the least busy worker; the queues are posted after this turn. */
  private dispatch(pending: Pending): void {
    const slot = this.workers.reduce((best, w, i) => (w.busy < this.workers[best].busy ? i : best), 0);
    const id = this.nextId++;
    this.pending.set(id, { ...pending, slot });
    this.workers[slot].busy++;
    this.workers[slot].outbox.push({ id, ...pending.order });
    if (!this.postScheduled) {
      this.postScheduled = true;
      setImmediate(() => this.postOutboxes());
    }
  }

  /** One message per worker with everything dispatched to it since the last post. */
  private postOutboxes(): void {
    this.postScheduled = false;
    for (const slot of this.workers) {
      if (slot.outbox.length === 0) continue;
      const request: WorkerRequest = { type: 'issue', authorityVersion: this.version, orders: slot.outbox };
      slot.outbox = [];
      slot.worker.postMessage(request);
    }
  }

  private onReplies(message: WorkerReply): void {
    for (const reply of message.replies) this.onReply(reply);
  }

  private onReply(reply: IssueReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    this.workers[pending.slot].busy--;
    if (reply.ok) return pending.resolve(reply.issued);
    if (reply.stale && !pending.retried) return this.dispatch({ ...pending, retried: true });
    if (reply.pki) return pending.reject(new PkiError(reply.pki.reason, reply.pki.message));
    pending.reject(new Error(`signing worker failed: ${reply.internal ?? 'stale CA state'}`));
  }

  private publishAuthority(): void {
    this.version++;
    const signer = this.ca.signer;
    const message: WorkerRequest = {
      type: 'authority',
      version: this.version,
      certPem: signer.certPem,
      privateKey: signer.privateKey,
      chainPem: [...signer.chainPem],
    };
    for (const { worker } of this.workers) worker.postMessage(message);
  }

  private newSlot(index: number): Slot {
    return { worker: this.spawn(index), busy: 0, outbox: [] };
  }

  private spawn(index: number): Worker {
    const worker = new Worker(join(__dirname, 'signing-worker.js'));
    worker.on('message', (message: WorkerReply) => this.onReplies(message));
    worker.on('error', (error) => {
      this.logger.error({ msg: 'signing worker crashed; replacing it', index, reason: error.message });
      for (const [id, pending] of this.pending) {
        if (pending.slot !== index) continue;
        this.pending.delete(id);
        pending.reject(new Error('signing worker crashed'));
      }
      this.workers[index] = this.newSlot(index);
      this.publishAuthority();
    });
    worker.unref();
    return worker;
  }
}
