import { Logger, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import type { CitadelConfig } from '../config';
import { CitadelError } from '../errors';
import { bootstrapAuthorities } from './authority.store';
import { CertificateAuthority } from './certificate-authority';
import { readCaDir, validatePlugIn } from './plug-in';

const SECONDS = 1000;

/** Loads (or on first start creates) the CA before anything that signs can run. */
@Module({
  providers: [
    {
      provide: CertificateAuthority,
      inject: [DataSource, SERVICE_CONFIG, CLOCK],
      useFactory: async (dataSource: DataSource, config: CitadelConfig, clock: Clock) => {
        const logger = new Logger('CertificateAuthority');
        if (config.kekResolved.source === 'dev-file') {
          logger.warn(
            `INSECURE: the CA key-encryption key comes from the development file ${config.devKekFile}; ` +
              'set BOWLINE_CA_KEK (or BOWLINE_CA_KEK_FILE) from a secret store in production',
          );
        }
        if (await dataSource.showMigrations()) {
          throw new CitadelError(
            'CA_NOT_READY',
            'schema migrations are pending: run `npm run migration:run` before starting Citadel',
          );
        }
        const loaded = await bootstrapAuthorities(dataSource, {
          plugIn: config.caDir ? validatePlugIn(readCaDir(config.caDir)) : undefined,
          kek: config.kekResolved,
          trustDomain: config.trustDomain,
          keyType: config.caKeyType,
          rootTtlSeconds: Math.floor(config.rootTtl / SECONDS),
          intermediateTtlSeconds: Math.floor(config.intermediateTtl / SECONDS),
          now: clock.now(),
        });
        logger.log({
          msg: 'CA loaded',
          signer: loaded.signer.certificate.serialNumber,
          roots: loaded.rootPems.length,
          kekId: config.kekResolved.id,
        });
        return new CertificateAuthority(loaded);
      },
    },
  ],
  exports: [CertificateAuthority],
})
export class KeysModule {}
