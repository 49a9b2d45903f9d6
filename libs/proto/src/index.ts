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

/** Wire types of IstioCertificateService (proto-loader: proto field names, int64 as string). */
export interface IstioCertificateRequest {
  csr: string;
  validity_duration: string;
  metadata?: { fields?: Record<string, unknown> } | null;
}
export interface IstioCertificateResponse {
  cert_chain: string[];
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
