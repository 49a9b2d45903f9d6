import type { Clock } from '#libs/host';
import type { Cluster, Endpoint, MeshConfig } from './model';
import { CLUSTER_DEFAULTS } from './translate-cluster';

/** How a request to an endpoint ended, for outlier detection. */
export interface EndpointOutcome {
  /** The upstream's response status, when one arrived. */
  readonly status?: number;
  /** The connection could not be made (refused, timed out, TLS failed). */
  readonly connectFailure?: boolean;
  /** The stream or connection was reset before a response. */
  readonly reset?: boolean;
}

/** One endpoint's state, for metrics and /config_dump. */
export interface EndpointStats {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly activeRequests: number;
  readonly consecutiveFailures: number;
  readonly ejected: boolean;
  /** Times ejected so far. */
  readonly ejections: number;
  readonly ejectedUntil?: Date;
}

/** One cluster's load-balancing state. */
export interface PickerStats {
  readonly cluster: string;
  readonly lbPolicy: Cluster['lbPolicy'];
  readonly ejectionsActive: number;
  readonly ejectionsTotal: number;
  /** Ejections refused because max_ejection_percent of the hosts were out already. */
  readonly ejectionsOverflow: number;
  readonly endpoints: readonly EndpointStats[];
}

export interface LoadBalancerOptions {
  readonly clock?: Clock;
  readonly random?: () => number;
}

interface Host {
  endpoint: Endpoint;
  active: number;
  consecutive: number;
  ejectedUntil?: number;
  /** Envoy's ejection multiplier: base_ejection_time × this. */
  multiplier: number;
  ejections: number;
  returnedAt?: number;
  /** Smooth weighted round robin. */
  current: number;
}

const keyOf = (endpoint: Endpoint) => `${endpoint.address}:${endpoint.port}`;
const SYSTEM_CLOCK: Clock = { now: () => new Date() };

/**
 * Picks endpoints of one cluster by its policy (ROUND_ROBIN: weighted when weights differ;
 * LEAST_REQUEST: power of two choices over active requests; RANDOM), skipping ejected hosts, and
 * runs Envoy's consecutive-5xx outlier detection: `consecutive5xx` 5xx responses or local
 * failures in a row eject a host for base_ejection_time × times ejected (capped by
 * max_ejection_time), unless max_ejection_percent of the hosts are out already (the check is
 * Envoy's: ejected share *before* this one below the max, so one host can always go). Below the
 * healthy panic threshold every host is used. State survives `update` for endpoints that stay.
 */
export class EndpointPicker {
  private hosts: Host[] = [];
  private readonly byKey = new Map<string, Host>();
  private ejectedCount = 0;
  private nextReturnAt = Infinity;
  /** Round robin position; starts at random (on first use) so that proxies do not move in step. */
  private cursor = -1;
  private ejectionsTotal = 0;
  private ejectionsOverflow = 0;
  private weighted = false;
  private active = 0;

  constructor(
    private cluster: Cluster,
    endpoints: readonly Endpoint[],
    private readonly clock: Clock = SYSTEM_CLOCK,
    private readonly random: () => number = Math.random,
  ) {
    this.update(cluster, endpoints);
  }

  get name(): string {
    return this.cluster.name;
  }

  /** New settings and endpoints; endpoints that stay keep their counters and ejection. */
  update(cluster: Cluster, endpoints: readonly Endpoint[]): void {
    this.cluster = cluster;
    const hosts: Host[] = [];
    const keep = new Set<string>();
    for (const endpoint of endpoints) {
      const key = keyOf(endpoint);
      if (keep.has(key)) continue;
      keep.add(key);
      const host = this.byKey.get(key) ?? {
        endpoint,
        active: 0,
        consecutive: 0,
        multiplier: 0,
        ejections: 0,
        current: 0,
      };
      host.endpoint = endpoint;
      if (!cluster.outlier) host.ejectedUntil = undefined;
      this.byKey.set(key, host);
      hosts.push(host);
    }
    for (const key of [...this.byKey.keys()]) if (!keep.has(key)) this.byKey.delete(key);
    this.hosts = hosts;
    this.active = hosts.reduce((sum, host) => sum + host.active, 0);
    this.weighted = hosts.some((h) => h.endpoint.weight !== hosts[0].endpoint.weight);
    this.recountEjections();
  }

  /**
   * An endpoint for the next request; undefined when the cluster has none to use. `exclude` (the
   * endpoint a retry follows) is avoided while another one is usable.
   */
  pick(exclude?: Endpoint): Endpoint | undefined {
    if (this.hosts.length === 0) return undefined;
    if (this.ejectedCount > 0) this.returnEjected();
    let candidates = this.ejectedCount === 0 ? this.hosts : this.usableHosts();
    if (exclude && candidates.length > 1) {
      const key = keyOf(exclude);
      const others = candidates.filter((host) => keyOf(host.endpoint) !== key);
      if (others.length > 0) candidates = others;
    }
    if (candidates.length === 0) return undefined;
    switch (this.cluster.lbPolicy) {
      case 'RANDOM':
        return candidates[Math.floor(this.random() * candidates.length)].endpoint;
      case 'LEAST_REQUEST':
        return this.leastRequest(candidates).endpoint;
      default:
        return this.weighted ? this.weightedRoundRobin(candidates).endpoint : this.roundRobin(candidates).endpoint;
    }
  }

  /** Requests in flight to the cluster (for max_requests). */
  get activeRequests(): number {
    return this.active;
  }

  /** A request to `endpoint` starts. */
  begin(endpoint: Endpoint): void {
    const host = this.byKey.get(keyOf(endpoint));
    if (!host) return;
    host.active++;
    this.active++;
  }

  /** A request to `endpoint` ended (call once per `begin`). */
  end(endpoint: Endpoint, outcome: EndpointOutcome): void {
    const host = this.byKey.get(keyOf(endpoint));
    if (!host) return;
    if (host.active > 0) {
      host.active--;
      this.active--;
    }
    const threshold = this.cluster.outlier?.consecutive5xx ?? 0;
    if (threshold === 0) return;
    const failed = outcome.connectFailure || outcome.reset || (outcome.status !== undefined && outcome.status >= 500);
    if (!failed) {
      if (outcome.status !== undefined) host.consecutive = 0;
      return;
    }
    // Envoy fires on reaching the count exactly: a refused ejection waits for a success and a new run.
    if (++host.consecutive !== threshold) return;
    if (this.ejectedCount > 0) this.returnEjected();
    if (host.ejectedUntil === undefined) this.eject(host);
  }

  stats(): PickerStats {
    if (this.ejectedCount > 0) this.returnEjected();
    return {
      cluster: this.cluster.name,
      lbPolicy: this.cluster.lbPolicy,
      ejectionsActive: this.ejectedCount,
      ejectionsTotal: this.ejectionsTotal,
      ejectionsOverflow: this.ejectionsOverflow,
      endpoints: this.hosts.map((host) => ({
        address: host.endpoint.address,
        port: host.endpoint.port,
        weight: host.endpoint.weight,
        activeRequests: host.active,
        consecutiveFailures: host.consecutive,
        ejected: host.ejectedUntil !== undefined,
        ejections: host.ejections,
        ...(host.ejectedUntil !== undefined ? { ejectedUntil: new Date(host.ejectedUntil) } : {}),
      })),
    };
  }

  private eject(host: Host): void {
    const outlier = this.cluster.outlier!;
    if ((this.ejectedCount * 100) / this.hosts.length >= outlier.maxEjectionPercent) {
      this.ejectionsOverflow++;
      return;
    }
    const now = this.now();
    if (host.returnedAt !== undefined) {
      // Envoy lowers the multiplier once per interval the host spends in service.
      const intervals = Math.floor((now - host.returnedAt) / outlier.intervalMs);
      host.multiplier = Math.max(0, host.multiplier - intervals);
    }
    host.multiplier++;
    const maxTime = Math.max(
      outlier.maxEjectionTimeMs ?? CLUSTER_DEFAULTS.outlier.maxEjectionTimeMs,
      outlier.baseEjectionTimeMs,
    );
    host.ejectedUntil = now + Math.min(outlier.baseEjectionTimeMs * host.multiplier, maxTime);
    host.ejections++;
    host.consecutive = 0;
    this.ejectionsTotal++;
    this.ejectedCount++;
    this.nextReturnAt = Math.min(this.nextReturnAt, host.ejectedUntil);
  }

  /** Brings back hosts whose ejection time has passed. */
  private returnEjected(): void {
    const now = this.now();
    if (now < this.nextReturnAt) return;
    for (const host of this.hosts) {
      if (host.ejectedUntil !== undefined && host.ejectedUntil <= now) {
        host.ejectedUntil = undefined;
        host.returnedAt = now;
        host.consecutive = 0;
      }
    }
    this.recountEjections();
  }

  private recountEjections(): void {
    this.ejectedCount = 0;
    this.nextReturnAt = Infinity;
    for (const host of this.hosts) {
      if (host.ejectedUntil === undefined) continue;
      this.ejectedCount++;
      this.nextReturnAt = Math.min(this.nextReturnAt, host.ejectedUntil);
    }
  }

  /** Hosts in service; every host when fewer than the panic threshold are. */
  private usableHosts(): Host[] {
    const usable = this.hosts.filter((host) => host.ejectedUntil === undefined);
    const threshold = this.cluster.healthyPanicThresholdPercent ?? CLUSTER_DEFAULTS.healthyPanicThresholdPercent;
    return threshold > 0 && (usable.length * 100) / this.hosts.length < threshold ? this.hosts : usable;
  }

  private roundRobin(candidates: readonly Host[]): Host {
    this.cursor = this.cursor < 0 ? Math.floor(this.random() * 1024) : (this.cursor + 1) % 0x7fffffff;
    return candidates[this.cursor % candidates.length];
  }

  /** nginx's smooth weighted round robin: even spread, exact proportions. */
  private weightedRoundRobin(candidates: readonly Host[]): Host {
    let total = 0;
    let best = candidates[0];
    for (const host of candidates) {
      host.current += host.endpoint.weight;
      total += host.endpoint.weight;
      if (host.current > best.current) best = host;
    }
    best.current -= total;
    return best;
  }

  /** Power of two choices: the less busy of two distinct random hosts. */
  private leastRequest(candidates: readonly Host[]): Host {
    if (candidates.length === 1) return candidates[0];
    const first = Math.floor(this.random() * candidates.length);
    let second = Math.floor(this.random() * (candidates.length - 1));
    if (second >= first) second++;
    const a = candidates[first];
    const b = candidates[second];
    return b.active < a.active ? b : a;
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}

/** The `EndpointPicker` of every cluster, kept across configs by cluster name. */
export class LoadBalancers {
  private readonly pickers = new Map<string, EndpointPicker>();

  constructor(private readonly options: LoadBalancerOptions = {}) {}

  /** Follows a new config: new clusters get a picker, gone ones lose theirs, the others are updated. */
  update(config: MeshConfig): void {
    for (const [name, cluster] of config.clusters) {
      const endpoints = config.endpoints.get(name) ?? [];
      const picker = this.pickers.get(name);
      if (picker) picker.update(cluster, endpoints);
      else this.pickers.set(name, new EndpointPicker(cluster, endpoints, this.options.clock, this.options.random));
    }
    for (const name of [...this.pickers.keys()]) if (!config.clusters.has(name)) this.pickers.delete(name);
  }

  get(cluster: string): EndpointPicker | undefined {
    return this.pickers.get(cluster);
  }

  stats(): PickerStats[] {
    return [...this.pickers.values()].map((picker) => picker.stats());
  }
}
