import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { DataSource } from 'typeorm';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import type { CitadelConfig } from '../config';
import { CaEventBus } from '../events/event-bus';
import { loadAuthorities, trustedRootPems } from '../keys/authority.store';
import { CertificateAuthority } from '../keys/certificate-authority';
import { RotationService } from './rotation.service';

const SWEEP_MS = 1_000;
const ROOT_AGE_CHECK_EVERY = 3_600; // sweeps, i.e. hourly

/**
 * Keeps this replica's CA current: reloads signer and bundle when any replica changes the
 * CA, and runs due rotation steps (and the 80%-of-life root check) every second.
 */
@Injectable()
export class CaWatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('CaWatcher');
  private subscription?: Subscription;
  private timer?: NodeJS.Timeout;
  private sweeps = 0;
  private sweeping = false;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CaEventBus) private readonly events: CaEventBus,
    @Inject(CertificateAuthority) private readonly ca: CertificateAuthority,
    @Inject(RotationService) private readonly rotation: RotationService,
    @Inject(SERVICE_CONFIG) private readonly config: CitadelConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.events.events$.subscribe((event) => {
      if (event.type === 'ca-changed') void this.reload();
    });
    this.timer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    clearInterval(this.timer);
  }

  private async reload(): Promise<void> {
    try {
      this.ca.replace(await loadAuthorities(this.dataSource.manager, this.config.kekResolved, this.clock.now()));
      this.logger.log({
        msg: 'CA reloaded',
        signer: this.ca.signer.certificate.serialNumber,
        roots: this.ca.rootPems().length,
      });
    } catch (error) {
      this.logger.error(error);
    }
  }

  private async sweep(): Promise<void> {
    if (this.sweeping || !this.dataSource.isInitialized) return;
    this.sweeping = true;
    try {
      await this.rotation.runDue();
      if (this.sweeps++ % ROOT_AGE_CHECK_EVERY === 0) await this.rotation.rotateAgingRoot();
      // Retired roots leave the bundle once their last leaf has expired.
      const trusted = await trustedRootPems(this.dataSource.manager, this.clock.now());
      if (trusted.join('') !== this.ca.trustBundlePem()) await this.reload();
    } catch (error) {
      this.logger.warn({
        msg: 'rotation sweep failed; will retry',
        reason: error instanceof Error ? error.message : String(error),
      });
    } finally {
      this.sweeping = false;
    }
  }
}
