import type { INestApplicationContext, Type } from '@nestjs/common';
import type { ServerCredentials } from '@grpc/grpc-js';
import type { ConfigOf, schemas } from '#libs/config';
import type { GrpcPackage } from '#libs/grpc';

/** The settings every service reads (see `schemas.service`), plus its two ports. */
export type ServiceConfig = ConfigOf<typeof schemas.service> & {
  readonly grpcPort: number;
  readonly adminPort: number;
};

/** Everything `runService` needs to know about one app. */
export interface ServiceDefinition {
  /** Short name: citadel, pilot, galley, policy, proxy. */
  name: string;
  /** One line for the OpenAPI document. */
  description: string;
  config: ServiceConfig;
  /** The app's root module; `ServiceModule` is added beside it. */
  module: Type<unknown>;
  /** gRPC packages besides health; their services are listed by reflection. */
  grpcPackages: GrpcPackage[];
  /** Fully qualified names of every gRPC service hosted, health included. */
  grpcServices: string[];
  /** TLS for the gRPC port, built once the app's providers exist; plaintext when absent. */
  grpcCredentials?: (app: INestApplicationContext) => ServerCredentials | Promise<ServerCredentials>;
  entities: Function[];
  migrations: Function[];
}
