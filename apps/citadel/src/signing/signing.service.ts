import { Inject, Injectable } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import { formatSpiffeId } from '#libs/pki';
import type { CitadelConfig } from '../config';
import { CitadelError, fromPkiError } from '../errors';
import { InventoryService } from '../inventory/inventory.service';
import type { IssuedCertificate } from '../inventory/issued-certificate.entity';
import { CertificateAuthority } from '../keys/certificate-authority';
import type { IssueOrder } from './signing-core';
import { SigningPool } from './signing-pool';

/** An authenticated caller: the identity the certificate is issued to, whatever the CSR says. */
export interface CallerIdentity {
  namespace: string;
  serviceAccount: string;
  authMethod: IssuedCertificate['authMethod'];
}

export interface SignRequest {
  csrPem: string;
  caller: CallerIdentity;
  /** Requested lifetime in seconds; 0 means the default. */
  validitySeconds: number;
}

/**
 * Issues workload certificates: SAN = the authenticated SPIFFE ID, TTL within policy, every
 * chain verified before it is returned (libs/pki) and recorded in the inventory.
 */
@Injectable()
export class SigningService {
  constructor(
    @Inject(CertificateAuthority) private readonly ca: CertificateAuthority,
    @Inject(SigningPool) private readonly pool: SigningPool,
    @Inject(InventoryService) private readonly inventory: InventoryService,
    @Inject(SERVICE_CONFIG) private readonly config: CitadelConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Returns the chain: leaf, intermediate, root. */
  async sign(request: SignRequest): Promise<string[]> {
    const spiffeId = this.spiffeIdOf(request.caller);
    const ttlSeconds = this.ttlFor(request.validitySeconds);
    return this.issueAndRecord({ csrPem: request.csrPem, spiffeId, ttlSeconds }, request.caller.authMethod);
  }

  /** Issues for a key Citadel holds itself (its own serving certificate). */
  async issue(params: {
    publicKey: KeyObject;
    spiffeId: string;
    ttlSeconds: number;
    authMethod: IssuedCertificate['authMethod'];
    dnsNames?: string[];
    ipAddresses?: string[];
  }): Promise<string[]> {
    const { authMethod, ...order } = params;
    return this.issueAndRecord(order, authMethod);
  }

  private async issueAndRecord(order: Omit<IssueOrder, 'nowMs'>, authMethod: IssuedCertificate['authMethod']) {
    const issuerId = this.ca.signerId;
    let issued;
    try {
      issued = await this.pool.issue({ ...order, nowMs: this.clock.now().getTime() });
    } catch (error) {
      fromPkiError(error);
    }
    await this.inventory.record({
      serialHex: issued.serialHex,
      spiffeId: order.spiffeId,
      notBefore: new Date(issued.notBeforeMs),
      notAfter: new Date(issued.notAfterMs),
      fingerprintSha256: issued.fingerprintSha256,
      issuerId,
      authMethod,
    });
    return [issued.certPem, ...issued.chainPem];
  }

  spiffeIdOf(identity: { namespace: string; serviceAccount: string }): string {
    try {
      return formatSpiffeId({ trustDomain: this.config.trustDomain, ...identity });
    } catch (error) {
      fromPkiError(error);
    }
  }

  private ttlFor(requestedSeconds: number): number {
    const maxSeconds = Math.floor(this.config.maxCertTtl / 1000);
    if (!Number.isSafeInteger(requestedSeconds) || requestedSeconds < 0) {
      throw new CitadelError(
        'TTL_INVALID',
        `validity_duration ${requestedSeconds} is not a whole number of seconds >= 0`,
      );
    }
    if (requestedSeconds === 0) return Math.floor(this.config.defaultCertTtl / 1000);
    if (requestedSeconds > maxSeconds) {
      throw new CitadelError(
        'TTL_INVALID',
        `validity_duration ${requestedSeconds}s exceeds the maximum of ${maxSeconds}s (CITADEL_MAX_CERT_TTL)`,
      );
    }
    return requestedSeconds;
  }
}
