import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint, MeshConfig, OutboundListener, Route, VirtualHost } from '../mesh/model';

/** What the outbound path needs from the route tables (implemented over apps/proxy/src/mesh). */
export interface OutboundRouting {
  resolve(config: MeshConfig, authority: string): { listener: OutboundListener; virtualHost: VirtualHost } | undefined;
  selectRoute(
    virtualHost: VirtualHost,
    request: { method: string; path: string; headers: IncomingHttpHeaders },
  ): Route | undefined;
  pickCluster(route: Route): string;
  rewritePath(route: Route, path: string): string;
}

/** Outcome of one attempt, for outlier detection. */
export interface AttemptOutcome {
  readonly status?: number;
  readonly connectFailure?: boolean;
  readonly reset?: boolean;
}

/** What the outbound path needs from load balancing and outlier detection. */
export interface Balancer {
  /** A healthy (not ejected) endpoint of the cluster, or undefined. */
  pick(config: MeshConfig, clusterName: string, exclude?: Endpoint): Endpoint | undefined;
  begin(clusterName: string, endpoint: Endpoint): void;
  end(clusterName: string, endpoint: Endpoint, outcome: AttemptOutcome): void;
  /** Requests in flight on the cluster (for max_requests). */
  active(clusterName: string): number;
}
