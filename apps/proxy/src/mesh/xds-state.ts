import type { AnyMessage, EnvoyTypes } from './envoy-types';
import type { Endpoint, MeshConfig, RouteConfiguration } from './model';
import {
  assembleMeshConfig,
  translateCluster,
  translateClusterLoadAssignment,
  translateListener,
  translateRouteConfiguration,
  type TranslatedCluster,
  type TranslatedListener,
} from './translate';

const PREFIX = 'type.googleapis.com/';

/** The xDS v3 resource types the proxy subscribes to over ADS. */
export const XDS_TYPE_URLS = {
  CDS: `${PREFIX}envoy.config.cluster.v3.Cluster`,
  EDS: `${PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  LDS: `${PREFIX}envoy.config.listener.v3.Listener`,
  RDS: `${PREFIX}envoy.config.route.v3.RouteConfiguration`,
} as const;

export type XdsType = keyof typeof XDS_TYPE_URLS;

/** Envoy's order: clusters before their endpoints, listeners before their routes. */
const ORDER: readonly XdsType[] = ['CDS', 'EDS', 'LDS', 'RDS'];

/** google.rpc.Code INVALID_ARGUMENT, what Envoy puts in a NACK. */
const INVALID_ARGUMENT = 3;

/** `envoy.service.discovery.v3.DiscoveryRequest` (proto field names). */
export interface DiscoveryRequest {
  version_info: string;
  node?: Record<string, unknown>;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: { code: number; message: string };
}

/** `envoy.service.discovery.v3.DiscoveryResponse` as proto-loader reads it (`defaults: false`). */
export interface DiscoveryResponse {
  version_info?: string;
  resources?: AnyMessage[];
  type_url?: string;
  nonce?: string;
}

/** What handling one response led to. */
export interface HandledResponse {
  readonly type?: XdsType;
  /** To send, in order: subscription changes it caused, then its ACK or NACK. */
  readonly requests: DiscoveryRequest[];
  /** Accepted content changed (a new version). */
  readonly changed: boolean;
  /** Why it was rejected (NACK). */
  readonly error?: string;
}

interface Resource<T> {
  readonly raw: unknown;
  readonly value: T;
}

interface Values {
  CDS: TranslatedCluster;
  EDS: readonly Endpoint[];
  LDS: TranslatedListener;
  RDS: RouteConfiguration;
}

interface TypeState<T> {
  /** Last accepted version ('' before any). */
  version: string;
  /** Nonce of the latest response on the current stream. */
  nonce: string;
  /** A response of this type was accepted at least once. */
  received: boolean;
  /** A request for this type was sent on the current stream. */
  subscribed: boolean;
  /** Subscribed names; null for a wildcard (CDS, LDS). */
  names: string[] | null;
  resources: Map<string, Resource<T>>;
}

type States = { [K in XdsType]: TypeState<Values[K]> };

/**
 * The client side of state-of-the-world ADS, without the transport: what is subscribed, what was
 * accepted (per type: version and translated resources), and the requests each response calls
 * for. CDS and LDS are wildcard subscriptions whose responses replace everything; EDS follows the
 * EDS clusters, RDS the route names listeners reference, and their responses update only the
 * resources they carry. A response that does not decode or translate is NACKed as a whole and
 * the previous resources of its type stay.
 */
export class XdsState {
  private readonly states: States = {
    CDS: emptyState(null),
    EDS: emptyState([]),
    LDS: emptyState(null),
    RDS: emptyState([]),
  };

  constructor(private readonly types: EnvoyTypes) {}

  /** The last accepted version of each type. */
  versions(): Record<XdsType, string> {
    return {
      CDS: this.states.CDS.version,
      EDS: this.states.EDS.version,
      LDS: this.states.LDS.version,
      RDS: this.states.RDS.version,
    };
  }

  /** The requests that open a stream: every subscription with its last accepted version, no nonce. */
  openStream(): DiscoveryRequest[] {
    const requests: DiscoveryRequest[] = [];
    for (const type of ORDER) {
      const state = this.states[type];
      state.nonce = '';
      state.subscribed = state.names === null || state.names.length > 0;
      if (state.subscribed) requests.push(this.request(type));
    }
    return requests;
  }

  /** Applies one response: accepts it (ACK, plus the subscription changes it causes) or NACKs it. */
  handle(response: DiscoveryResponse): HandledResponse {
    const type = ORDER.find((t) => XDS_TYPE_URLS[t] === response.type_url);
    if (!type) return { requests: [], changed: false };
    const state = this.states[type];
    state.nonce = response.nonce ?? '';
    let resources: Map<string, Resource<Values[XdsType]>>;
    try {
      resources = this.translate(type, response.resources ?? []);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const nack = { ...this.request(type), error_detail: { code: INVALID_ARGUMENT, message } };
      return { type, requests: [nack], changed: false, error: message };
    }
    const version = response.version_info ?? '';
    const changed = !state.received || version !== state.version;
    this.accept(type, resources);
    state.version = version;
    state.received = true;
    const requests = [...this.followUps(type), this.request(type)];
    return { type, requests, changed };
  }

  /** Names referenced but not received yet: route configurations and cluster load assignments. */
  missing(): { routes: string[]; endpoints: string[] } {
    return {
      routes: this.routeNames().filter((name) => !this.states.RDS.resources.has(name)),
      endpoints: this.edsNames().filter((name) => !this.states.EDS.resources.has(name)),
    };
  }

  /** Clusters and listeners arrived and nothing they reference is missing. */
  complete(): boolean {
    const missing = this.missing();
    return (
      this.states.CDS.received &&
      this.states.LDS.received &&
      missing.routes.length === 0 &&
      missing.endpoints.length === 0
    );
  }

  /** The accepted resources as one config. */
  meshConfig(): MeshConfig {
    const { CDS, EDS, LDS, RDS } = this.states;
    const values = <T>(state: TypeState<T>) => [...state.resources.values()].map((r) => r.value);
    const raws = (state: TypeState<unknown>) => [...state.resources.values()].map((r) => r.raw);
    return assembleMeshConfig({
      versions: { listeners: LDS.version, routes: RDS.version, clusters: CDS.version, endpoints: EDS.version },
      listeners: values(LDS),
      routes: values(RDS),
      clusters: values(CDS),
      assignments: new Map([...EDS.resources].map(([name, r]) => [name, r.value])),
      raw: { listeners: raws(LDS), routes: raws(RDS), clusters: raws(CDS), endpoints: raws(EDS) },
    });
  }

  private translate<K extends XdsType>(type: K, anys: readonly AnyMessage[]): Map<string, Resource<Values[K]>> {
    const out = new Map<string, Resource<Values[K]>>();
    for (const any of anys) {
      if (any.type_url !== XDS_TYPE_URLS[type]) {
        throw new Error(`a ${type} response carries a resource of type ${any.type_url}`);
      }
      const raw = this.types.unpack(any);
      const [name, value] = translateResource(type, raw);
      if (out.has(name)) throw new Error(`${type} resource "${name}" appears twice in the response`);
      out.set(name, { raw, value });
    }
    return out;
  }

  private accept<K extends XdsType>(type: K, resources: Map<string, Resource<Values[K]>>): void {
    const state = this.states[type];
    if (state.names === null) {
      state.resources = resources;
      return;
    }
    const wanted = new Set(state.names);
    for (const [name, resource] of resources) if (wanted.has(name)) state.resources.set(name, resource);
  }

  /** After CDS, (re)subscribe EDS to the EDS clusters; after LDS, RDS to the referenced routes. */
  private followUps(type: XdsType): DiscoveryRequest[] {
    if (type === 'CDS') return this.resubscribe('EDS', this.edsNames());
    if (type === 'LDS') return this.resubscribe('RDS', this.routeNames());
    return [];
  }

  private resubscribe(type: 'EDS' | 'RDS', names: string[]): DiscoveryRequest[] {
    const state = this.states[type];
    const same = state.names !== null && sameNames(state.names, names);
    if (same && (state.subscribed || names.length === 0)) return [];
    state.names = names;
    const wanted = new Set(names);
    for (const name of [...state.resources.keys()]) if (!wanted.has(name)) state.resources.delete(name);
    state.subscribed = true;
    return [this.request(type)];
  }

  private edsNames(): string[] {
    const names = new Set<string>();
    for (const { value } of this.states.CDS.resources.values()) {
      if (value.edsServiceName !== undefined) names.add(value.edsServiceName);
    }
    return [...names].sort();
  }

  private routeNames(): string[] {
    const names = new Set<string>();
    for (const { value } of this.states.LDS.resources.values()) {
      if (value.kind === 'outbound' && !value.routeConfig) names.add(value.listener.routeConfigName);
    }
    return [...names].sort();
  }

  private request(type: XdsType): DiscoveryRequest {
    const state = this.states[type];
    return {
      version_info: state.version,
      resource_names: state.names ? [...state.names] : [],
      type_url: XDS_TYPE_URLS[type],
      response_nonce: state.nonce,
    };
  }
}

function translateResource<K extends XdsType>(type: K, raw: unknown): [string, Values[K]] {
  switch (type) {
    case 'CDS': {
      const cluster = translateCluster(raw);
      return [cluster.cluster.name, cluster as Values[K]];
    }
    case 'EDS': {
      const assignment = translateClusterLoadAssignment(raw);
      return [assignment.clusterName, assignment.endpoints as Values[K]];
    }
    case 'LDS': {
      const listener = translateListener(raw);
      return [listener.kind === 'outbound' ? listener.listener.name : 'virtualInbound', listener as Values[K]];
    }
    default: {
      const routes = translateRouteConfiguration(raw);
      return [routes.name, routes as Values[K]];
    }
  }
}

function emptyState<T>(names: string[] | null): TypeState<T> {
  return { version: '', nonce: '', received: false, subscribed: false, names, resources: new Map() };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}
