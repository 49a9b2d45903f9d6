import { status as GrpcStatus } from '@grpc/grpc-js';
import { BowlineError, defineErrorKind } from '#libs/errors';

/** A resource (or bootstrap file) the proxy cannot apply: the xDS client NACKs it. */
export const MESH_CONFIG_INVALID = defineErrorKind(
  'MESH_CONFIG_INVALID',
  'Invalid mesh configuration',
  400,
  GrpcStatus.INVALID_ARGUMENT,
);

/** What a `MeshConfigError` is about. */
export type MeshResourceKind = 'Listener' | 'RouteConfiguration' | 'Cluster' | 'ClusterLoadAssignment' | 'Bootstrap';

/**
 * Invalid or unsupported content in one resource. The message names the resource and the field
 * path (`RouteConfiguration "reviews:9080" virtual_hosts[0].routes[1].match.safe_regex.regex:
 * invalid regular expression ...`): it is what the xDS client sends back in a NACK.
 */
export class MeshConfigError extends BowlineError {
  constructor(
    readonly resourceKind: MeshResourceKind,
    readonly resourceName: string,
    readonly path: string,
    readonly detail: string,
  ) {
    super(MESH_CONFIG_INVALID, `${resourceKind} "${resourceName}"${path ? ` ${path}` : ''}: ${detail}`, [
      { path, message: detail },
    ]);
  }
}
