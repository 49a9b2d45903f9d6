import { Controller, Inject } from '@nestjs/common';
import { GrpcStreamCall } from '@nestjs/microservices';
import type { AdsCall } from './connection';
import { DiscoveryServer } from './discovery-server';

/** `envoy.service.discovery.v3.AggregatedDiscoveryService`: the gRPC facade over the ADS server. */
@Controller()
export class AdsGrpc {
  constructor(@Inject(DiscoveryServer) private readonly server: DiscoveryServer) {}

  /** State-of-the-world ADS; the raw duplex call is handed to the server (Delta xDS is UNIMPLEMENTED). */
  @GrpcStreamCall('AggregatedDiscoveryService', 'StreamAggregatedResources')
  stream(call: AdsCall): void {
    this.server.open(call);
  }
}
