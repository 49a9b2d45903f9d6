import { Inject, Injectable } from '@nestjs/common';
import type { Metadata } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { BowlineError, Kinds } from '#libs/errors';
import { CLOCK, type Clock } from '#libs/host';
import { parseSpiffeId } from '#libs/pki';
import { InventoryService } from '../inventory/inventory.service';
import { CitadelMetrics } from '../metrics/citadel-metrics';
import { JoinTokensService } from '../join-tokens/join-tokens.service';
import type { CallerIdentity } from '../signing/signing.service';

/**
 * Who is asking for a certificate: the identity bound to a join token (first contact), or the
 * identity of the caller's current certificate presented over mTLS (renewal). The TLS layer
 * has proven possession of that certificate's key; here we check it is one we issued, exactly
 * (fingerprint), still active and unexpired.
 */
@Injectable()
export class CallerAuthentication {
  constructor(
    @Inject(JoinTokensService) private readonly joinTokens: JoinTokensService,
    @Inject(InventoryService) private readonly inventory: InventoryService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(CitadelMetrics) private readonly metrics: CitadelMetrics,
  ) {}

  async authenticate(metadata: Metadata, peer: PeerCertificate | undefined): Promise<CallerIdentity> {
    const header = metadata.get('authorization')[0];
    if (header !== undefined) {
      const token = /^Bearer\s+(\S+)$/i.exec(String(header))?.[1];
      if (!token)
        throw new BowlineError(Kinds.UNAUTHENTICATED, 'the authorization metadata must be "Bearer <join token>"');
      const bound = await this.joinTokens.redeem(token, this.clock.now()).catch((error: unknown) => {
        this.metrics.joinToken(false);
        throw error;
      });
      this.metrics.joinToken(true);
      return { namespace: bound.namespace, serviceAccount: bound.serviceAccount, authMethod: 'join-token' };
    }
    if (peer?.raw) return this.fromCertificate(peer.raw);
    throw new BowlineError(
      Kinds.UNAUTHENTICATED,
      'no credentials: send a join token as "authorization: Bearer <token>" metadata, or present your current certificate over mTLS',
    );
  }

  /** The SPIFFE ID of a caller that must present its current Citadel certificate (streams). */
  async fromPeerCertificate(peer: PeerCertificate | undefined): Promise<string> {
    if (!peer?.raw) {
      throw new BowlineError(Kinds.UNAUTHENTICATED, 'present your current Citadel certificate over mTLS to subscribe');
    }
    return (await this.issuedRecord(peer.raw)).spiffeId;
  }

  private async fromCertificate(der: Buffer): Promise<CallerIdentity> {
    const record = await this.issuedRecord(der);
    const { namespace, serviceAccount } = parseSpiffeId(record.spiffeId);
    return { namespace, serviceAccount, authMethod: 'certificate' };
  }

  /** The inventory row of exactly this certificate, if it is ours, active and unexpired. */
  private async issuedRecord(der: Buffer) {
    const certificate = new X509Certificate(der);
    const now = this.clock.now();
    const record = await this.inventory.findValid(certificate.serialNumber, now);
    if (!record || record.fingerprintSha256 !== certificate.fingerprint256) {
      throw new BowlineError(
        Kinds.UNAUTHENTICATED,
        `client certificate serial ${certificate.serialNumber} is not a valid certificate issued by this CA (unknown, expired or revoked)`,
      );
    }
    if (record.authMethod === 'internal') {
      throw new BowlineError(Kinds.UNAUTHENTICATED, 'control-plane serving certificates cannot be used to renew');
    }
    return record;
  }
}
