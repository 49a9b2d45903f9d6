import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { concat, defer, filter, from, map, merge, Observable, of, switchMap } from 'rxjs';
import type { CitadelEvent } from '#libs/proto';
import { CaEventBus } from '../events/event-bus';
import { RevocationService } from '../inventory/revocation.service';
import { CertificateAuthority } from '../keys/certificate-authority';
import { CallerAuthentication } from './caller-authentication';

/**
 * `bowline.citadel.v1.CitadelEvents/Subscribe`: on subscribe, the trust bundle and the full
 * deny list; then every bundle change, revocation, and "rotate now" for the caller's identity.
 */
@Controller()
export class CitadelEventsGrpc {
  constructor(
    @Inject(CallerAuthentication) private readonly authentication: CallerAuthentication,
    @Inject(CaEventBus) private readonly events: CaEventBus,
    @Inject(RevocationService) private readonly revocation: RevocationService,
    @Inject(CertificateAuthority) private readonly ca: CertificateAuthority,
  ) {}

  @GrpcMethod('CitadelEvents', 'Subscribe')
  subscribe(
    _request: unknown,
    _metadata: unknown,
    call: ServerWritableStream<unknown, unknown>,
  ): Observable<CitadelEvent> {
    return defer(() => this.authentication.fromPeerCertificate(call.getAuthContext().sslPeerCertificate)).pipe(
      switchMap((spiffeId) =>
        concat(
          of(this.bundleEvent()),
          from(this.revocation.denyList()).pipe(map((serials) => ({ revocations: { serials, snapshot: true } }))),
          merge(this.bundleChanges(), this.liveEvents(spiffeId)),
        ),
      ),
    );
  }

  private bundleEvent(): CitadelEvent {
    return { trust_bundle: { root_certs: [...this.ca.rootPems()] } };
  }

  private bundleChanges(): Observable<CitadelEvent> {
    return new Observable<CitadelEvent>((subscriber) => this.ca.onChange(() => subscriber.next(this.bundleEvent())));
  }

  private liveEvents(spiffeId: string): Observable<CitadelEvent> {
    return this.events.events$.pipe(
      filter((event) => event.type === 'revoked' || (event.type === 'rotate-now' && event.spiffeId === spiffeId)),
      map((event): CitadelEvent =>
        event.type === 'revoked'
          ? { revocations: { serials: event.serials, snapshot: false } }
          : { rotate_now: { spiffe_id: spiffeId, reason: event.type === 'rotate-now' ? event.reason : '' } },
      ),
    );
  }
}
