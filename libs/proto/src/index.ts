import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { GrpcPackage } from '#libs/grpc';

/**
 * Bowline's .proto files (and the ecosystem contracts we speak, e.g. Istio's CA service) live
 * in libs/proto/protos; they are read at run time from the repository (or image) root.
 */
export const PROTO_ROOT = join(findRoot(), 'libs', 'proto', 'protos');

/** `istio.v1.auth.IstioCertificateService`, as istio/api security/v1alpha1/ca.proto defines it. */
export const ISTIO_CA_PACKAGE: GrpcPackage = {
  name: 'istio.v1.auth',
  protoPath: join(PROTO_ROOT, 'istio', 'v1', 'auth', 'ca.proto'),
  services: ['istio.v1.auth.IstioCertificateService'],
};

/** `bowline.citadel.v1.CitadelEvents`: trust bundle, revocations and rotate-now pushed to proxies. */
export const CITADEL_EVENTS_PACKAGE: GrpcPackage = {
  name: 'bowline.citadel.v1',
  protoPath: join(PROTO_ROOT, 'bowline', 'citadel', 'v1', 'events.proto'),
  services: ['bowline.citadel.v1.CitadelEvents'],
};

/** Wire type of CitadelEvents.Subscribe's stream (one field of the oneof is set). */
export interface CitadelEvent {
  trust_bundle?: { root_certs: string[] };
  revocations?: { serials: string[]; snapshot: boolean };
  rotate_now?: { spiffe_id: string; reason: string };
}

/** Where @grpc/grpc-js-xds ships Envoy's protos and the ones they import. */
export const ENVOY_PROTO_INCLUDE_DIRS: string[] = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((dir) =>
  join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps', dir),
);

/** Envoy's `envoy.service.auth.v3.Authorization` (ext_authz), loaded from @grpc/grpc-js-xds's copy. */
export const ENVOY_EXT_AUTHZ_PACKAGE: GrpcPackage = {
  name: 'envoy.service.auth.v3',
  protoPath: join(ENVOY_PROTO_INCLUDE_DIRS[0], 'envoy', 'service', 'auth', 'v3', 'external_auth.proto'),
  services: ['envoy.service.auth.v3.Authorization'],
  includeDirs: ENVOY_PROTO_INCLUDE_DIRS,
};

/**
 * Envoy's `envoy.service.discovery.v3.AggregatedDiscoveryService` (xDS v3 ADS), loaded from
 * @grpc/grpc-js-xds's copy. Resources inside responses are `google.protobuf.Any`.
 */
export const ENVOY_ADS_PACKAGE: GrpcPackage = {
  name: 'envoy.service.discovery.v3',
  protoPath: join(ENVOY_PROTO_INCLUDE_DIRS[0], 'envoy', 'service', 'discovery', 'v3', 'ads.proto'),
  services: ['envoy.service.discovery.v3.AggregatedDiscoveryService'],
  includeDirs: ENVOY_PROTO_INCLUDE_DIRS,
};

/** Wire types of IstioCertificateService (proto-loader: proto field names, int64 as string). */
export interface IstioCertificateRequest {
  csr: string;
  validity_duration: string;
  metadata?: { fields?: Record<string, unknown> } | null;
}
export interface IstioCertificateResponse {
  cert_chain: string[];
}

/** `bowline.galley.v1.ConfigWatch`: Galley's change stream (Watch) and snapshot (List) of config resources. */
export const GALLEY_PACKAGE: GrpcPackage = {
  name: 'bowline.galley.v1',
  protoPath: join(PROTO_ROOT, 'bowline', 'galley', 'v1', 'galley.proto'),
  services: ['bowline.galley.v1.ConfigWatch'],
};

/** `bowline.galley.v1.Operation` (enums as numbers). */
export const GalleyOperation = { UNSPECIFIED: 0, ADDED: 1, MODIFIED: 2, DELETED: 3, SYNCED: 4 } as const;

/**
 * google.protobuf.Value / Struct as proto-loader reads and writes them. protobufjs bundles these
 * well-known types with camelCase field names, so `keepCase` does not apply to them.
 */
export type ProtoValue =
  | { nullValue: 0 }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: ProtoStruct }
  | { listValue: { values: ProtoValue[] } };
export interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

/** Wire types of ConfigWatch (proto field names; int64 as decimal strings). */
export interface GalleyWatchRequest {
  kinds: string[];
  since_version: string;
}
export interface GalleyResource {
  api_version: string;
  kind: string;
  namespace: string;
  name: string;
  resource_version: string;
  source: string;
  object: ProtoStruct | null;
}
export interface GalleyWatchEvent {
  version: string;
  operation: number;
  resource: GalleyResource | null;
}
export interface GalleyListRequest {
  kinds: string[];
}
export interface GalleyListResponse {
  version: string;
  resources: GalleyResource[];
}

function findRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'bowline') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('libs/proto: cannot find the bowline root (package.json)');
    dir = parent;
  }
}
export { fromStruct, toStruct, toValue } from './struct';
