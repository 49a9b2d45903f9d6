import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Client } from 'pg';
import { Subject } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { SERVICE_CONFIG } from '#libs/host';

/** What changed, fanned out to every Citadel replica through PostgreSQL NOTIFY. */
export type CaEvent =
  | { type: 'revoked'; serials: string[] }
  | { type: 'rotate-now'; spiffeId: string; reason: string }
  | { type: 'ca-changed' };

const CHANNEL = 'citadel_events';
const RECONNECT_MS = 1_000;

/**
 * Publishes events in the writer's transaction (so nobody hears of an uncommitted change) and
 * delivers every event, from this replica or another, to `events$`.
 */
@Injectable()
export class CaEventBus implements OnModuleInit, OnModuleDestroy {
  readonly events$ = new Subject<CaEvent>();
  private readonly logger = new Logger('CaEventBus');
  private client?: Client;
  private closed = false;

  constructor(@Inject(SERVICE_CONFIG) private readonly config: { databaseUrl: string }) {}

  async onModuleInit(): Promise<void> {
    await this.listen();
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    this.events$.complete();
    await this.client?.end().catch(() => undefined);
  }

  /** NOTIFY inside `manager`'s transaction: delivered to listeners only if it commits. */
  async publish(manager: EntityManager, event: CaEvent): Promise<void> {
    await manager.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(event)]);
  }

  private async listen(): Promise<void> {
    const client = new Client({
      connectionString: this.config.databaseUrl,
      application_name: 'bowline-citadel-events',
    });
    client.on('notification', (message) => {
      try {
        this.events$.next(JSON.parse(message.payload ?? '') as CaEvent);
      } catch (error) {
        this.logger.warn({ msg: 'ignored a malformed event', reason: String(error) });
      }
    });
    client.on('error', (error) => {
      this.logger.warn({ msg: 'event connection lost; reconnecting', reason: error.message });
      void client.end().catch(() => undefined);
      if (!this.closed) setTimeout(() => void this.listen().catch(() => undefined), RECONNECT_MS).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
  }
}
