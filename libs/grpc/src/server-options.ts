import type { ServerCredentials } from '@grpc/grpc-js';
import { type GrpcOptions, Transport } from '@nestjs/microservices';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { sendPreEncodedResponses } from './pre-encoded';
import { addReflection } from './reflection';

/** One proto package a server hosts. */
export interface GrpcPackage {
  /** Proto package name, e.g. `istio.v1.auth`. */
  name: string;
  protoPath: string;
  /** Fully qualified service names in it, for health checks by name. */
  services: string[];
  /** Where its imports are found (e.g. Envoy's protos and their dependencies); passed to the loader. */
  includeDirs?: string[];
}

export const HEALTH_PACKAGE: GrpcPackage = {
  name: 'grpc.health.v1',
  protoPath: healthProtoPath,
  services: ['grpc.health.v1.Health'],
};

export interface GrpcServerParams {
  bindAddress: string;
  port: number;
  /** Packages besides health, which every server hosts. */
  packages?: GrpcPackage[];
  credentials?: ServerCredentials;
}

/**
 * The options for a Nest gRPC server that hosts health, server reflection (v1 and v1alpha,
 * so `grpcurl list` works) and the given packages. The same loader options serve clients.
 * A handler may write an already encoded response (a Buffer): see sendPreEncodedResponses.
 */
export function grpcServerOptions(params: GrpcServerParams): GrpcOptions {
  const packages = [HEALTH_PACKAGE, ...(params.packages ?? [])];
  return {
    transport: Transport.GRPC,
    options: {
      url: `${formatHost(params.bindAddress)}:${params.port}`,
      package: packages.map((p) => p.name),
      protoPath: packages.map((p) => p.protoPath),
      credentials: params.credentials,
      gracefulShutdown: true,
      loader: { ...PROTO_LOADER_OPTIONS, includeDirs: packages.flatMap((p) => p.includeDirs ?? []) },
      onLoadPackageDefinition: (definition, server) => {
        sendPreEncodedResponses(definition);
        addReflection(definition, server);
      },
    },
  };
}

export const PROTO_LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
} as const;

export function serviceNames(packages: GrpcPackage[] = []): string[] {
  return [HEALTH_PACKAGE, ...packages].flatMap((p) => p.services);
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
