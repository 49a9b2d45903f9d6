import type { Endpoint, MeshConfig } from '../mesh/model';
import { LoadBalancers, pickWeighted, resolveOutbound, rewritePath, selectRoute } from '../mesh';
import type { AttemptOutcome, Balancer, OutboundRouting } from './routing';

/** Outbound routing over the mesh router, relative to the proxy's namespace. */
export function meshRouting(namespace: string): OutboundRouting {
  return {
    resolve: (config, authority) => resolveOutbound(config, authority, undefined, namespace),
    selectRoute: (virtualHost, request) => selectRoute(virtualHost, request),
    pickCluster: (route) => pickWeighted(route.clusters),
    rewritePath,
  };
}

/**
 * Load balancing and outlier detection over `LoadBalancers`, which follow each new config
 * (pickers, their active counts and ejections survive config changes for the same cluster).
 */
export class MeshBalancer implements Balancer {
  private readonly balancers: LoadBalancers;
  private followed?: MeshConfig;

  constructor(balancers = new LoadBalancers()) {
    this.balancers = balancers;
  }

  get loadBalancers(): LoadBalancers {
    return this.balancers;
  }

  pick(config: MeshConfig, clusterName: string, exclude?: Endpoint): Endpoint | undefined {
    if (this.followed !== config) {
      this.balancers.update(config);
      this.followed = config;
    }
    return this.balancers.get(clusterName)?.pick(exclude);
  }

  begin(clusterName: string, endpoint: Endpoint): void {
    this.balancers.get(clusterName)?.begin(endpoint);
  }

  end(clusterName: string, endpoint: Endpoint, outcome: AttemptOutcome): void {
    this.balancers.get(clusterName)?.end(endpoint, outcome);
  }

  active(clusterName: string): number {
    return this.balancers.get(clusterName)?.activeRequests ?? 0;
  }
}
