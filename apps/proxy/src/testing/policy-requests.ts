import type { AuthorizationRequest } from '../dataplane/authorization';
import type { LocalWorkloadInfo } from '../policy/input';

// Shared by the specs of the proxy's authorization input and keys (input.spec, rego-key.spec).

/** The server workload the specs' requests arrive at. */
export const LOCAL: LocalWorkloadInfo = { namespace: 'default', labels: { app: 'server', version: 'v1' } };

/**
 * An mTLS request that sets every field, with what normalising changes (dot segments, case), a
 * query and a fragment, and a secret header.
 */
export const BASE: AuthorizationRequest = {
  method: 'get',
  path: '/a/../items/./x?limit=1#frag',
  host: 'Server.Default:8080',
  headers: { host: 'server:8080', 'x-tenant': 'acme', authorization: 'Bearer t' },
  protocol: 'HTTP/1.1',
  sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/client',
  sourceAddress: '10.1.2.3',
  destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/server',
  destinationPort: 8080,
};
