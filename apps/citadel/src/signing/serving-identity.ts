import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { MemoryCertificateProvider } from '#libs/grpc';
import { SERVICE_CONFIG } from '#libs/host';
import type { CitadelConfig } from '../config';
import { CertificateAuthority } from '../keys/certificate-authority';
import { SigningService } from './signing.service';

/**
 * Citadel's own gRPC serving certificate (`spiffe://<td>/ns/bowline-system/sa/citadel` plus
 * DNS names and loopback IPs), issued by itself with a key that exists only in memory and
 * renewed at half its lifetime. gRPC picks up each renewal on the next handshake.
 */
@Injectable()
export class ServingIdentity implements OnModuleDestroy {
  readonly provider = new MemoryCertificateProvider();
  private readonly logger = new Logger('ServingIdentity');
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(SigningService) private readonly signing: SigningService,
    @Inject(CertificateAuthority) private readonly ca: CertificateAuthority,
    @Inject(SERVICE_CONFIG) private readonly config: CitadelConfig,
  ) {}

  async start(): Promise<void> {
    this.provider.setTrustBundle(this.ca.trustBundlePem());
    await this.renew();
    // After a rotation: trust the new bundle and serve a certificate from the new signer.
    this.stopWatching = this.ca.onChange(() => {
      this.provider.setTrustBundle(this.ca.trustBundlePem());
      void this.renew().catch((error) => this.logger.error(error));
    });
  }

  private stopWatching?: () => void;

  private async renew(): Promise<void> {
    const ttlSeconds = Math.floor(this.config.defaultCertTtl / 1000);
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const chain = await this.signing.issue({
      publicKey: detached(publicKey),
      spiffeId: this.signing.spiffeIdOf({ namespace: 'bowline-system', serviceAccount: 'citadel' }),
      ttlSeconds,
      authMethod: 'internal',
      dnsNames: this.config.serverDnsNames
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
      ipAddresses: ['127.0.0.1', '::1'],
    });
    this.provider.setIdentity(chain.join(''), privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    this.logger.log({ msg: 'serving certificate issued', ttlSeconds });
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => void this.renew().catch((error) => this.logger.error(error)),
      (ttlSeconds * 1000) / 2,
    );
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearTimeout(this.timer);
    this.stopWatching?.();
  }
}

/**
 * The same public key, re-imported from its DER so that it shares no state with the key
 * generation job. Node 20 can deadlock when the garbage collector frees a `generateKeyPairSync`
 * job while `export({ format: 'jwk' })` (libs/pki does it for every leaf it builds) holds that
 * key's lock on the same thread, as it does with CITADEL_SIGNING_WORKERS=0.
 */
function detached(publicKey: KeyObject): KeyObject {
  return createPublicKey({ key: publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' });
}
