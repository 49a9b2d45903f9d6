import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Client } from 'pg';
import { Subject, type Observable } from 'rxjs';
import { SERVICE_CONFIG } from '#libs/host';
import type { GalleyConfig } from '../config';
import { ResourceReader } from '../store/resource.reader';
import { CHANGES_CHANNEL, type ChangeRecord } from '../store/records';

const POLL_INTERVAL_MS = 5_000;
const RECONNECT_DELAY_MS = 1_000;

/**
 * This replica's view of the change log as it grows. A dedicated PostgreSQL connection LISTENs
 * on `galley_changes` (every write NOTIFYs its version when it commits, from any replica); on a
 * notification, and every few seconds in case one was missed (reconnects), it reads the rows
 * after the last one seen and emits them in version order. Writers commit versions in order,
 * so reading "everything after N" never skips a change.
 */
@Injectable()
export class ChangeFeed implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('ChangeFeed');
  private readonly subject = new Subject<ChangeRecord>();
  private client?: Client;
  private lastSeen?: number;
  private fetching?: Promise<void>;
  private again = false;
  private stopped = false;
  private poll?: NodeJS.Timeout;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: GalleyConfig,
    @Inject(ResourceReader) private readonly reader: ResourceReader,
  ) {}

  /** Every change committed after this replica started following, in order. */
  get changes(): Observable<ChangeRecord> {
    return this.subject.asObservable();
  }

  async onApplicationBootstrap(): Promise<void> {
    void this.connect();
    this.poll = setInterval(() => void this.catchUp(), POLL_INTERVAL_MS);
    this.poll.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    this.subject.complete();
    await this.client?.end().catch(() => undefined);
  }

  /** Resolves once the feed knows where it starts (so a subscriber misses nothing after it). */
  async ready(): Promise<void> {
    if (this.lastSeen === undefined) await this.catchUp();
    if (this.lastSeen === undefined) throw new Error('the change log cannot be read yet');
  }

  /** Reads and emits every change after the last one seen; concurrent calls coalesce. */
  catchUp(): Promise<void> {
    if (this.fetching) {
      this.again = true;
      return this.fetching;
    }
    this.fetching = this.fetch()
      .catch((error: unknown) => this.logger.warn({ msg: 'cannot read the change log', reason: String(error) }))
      .finally(() => {
        this.fetching = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.catchUp();
        }
      });
    return this.fetching;
  }

  private async fetch(): Promise<void> {
    if (this.lastSeen === undefined) {
      this.lastSeen = (await this.reader.state()).current;
      return;
    }
    for (;;) {
      const changes = await this.reader.changesAfter(this.lastSeen);
      for (const change of changes) {
        this.lastSeen = change.version;
        this.subject.next(change);
      }
      if (changes.length < 500) return;
    }
  }

  private async connect(): Promise<void> {
    while (!this.stopped) {
      const client = new Client({
        connectionString: this.config.databaseUrl,
        application_name: 'bowline-galley-listen',
      });
      try {
        await client.connect();
        client.on('notification', () => void this.catchUp());
        const lost = new Promise<void>((resolve) => {
          client.on('error', (error) => {
            this.logger.warn({ msg: 'LISTEN connection lost; reconnecting', reason: error.message });
            resolve();
          });
          client.on('end', () => resolve());
        });
        await client.query(`LISTEN ${CHANGES_CHANNEL}`);
        this.client = client;
        void this.catchUp();
        await lost;
      } catch (error) {
        this.logger.warn({ msg: 'cannot LISTEN for changes; retrying', reason: String(error) });
      }
      await client.end().catch(() => undefined);
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
    }
  }
}
