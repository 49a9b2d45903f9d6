import type { IdentitySnapshot } from '../identity/types';
import type { MeshConfig, MeshConfigSource } from '../mesh/model';

const TYPE_PREFIX = 'type.googleapis.com/';

/** The four xDS resource kinds a config dump shows, as `MeshConfig.versions` names them. */
export type XdsKind = 'listeners' | 'clusters' | 'routes' | 'endpoints';

/** `@type` of each section of the dump (Envoy's admin v3 messages). */
export const CONFIG_DUMP_TYPES: Readonly<Record<XdsKind, string>> = Object.freeze({
  listeners: `${TYPE_PREFIX}envoy.admin.v3.ListenersConfigDump`,
  clusters: `${TYPE_PREFIX}envoy.admin.v3.ClustersConfigDump`,
  routes: `${TYPE_PREFIX}envoy.admin.v3.RoutesConfigDump`,
  endpoints: `${TYPE_PREFIX}envoy.admin.v3.EndpointsConfigDump`,
});

/** `@type` of each resource (the xDS v3 type URLs). */
export const RESOURCE_TYPES: Readonly<Record<XdsKind, string>> = Object.freeze({
  listeners: `${TYPE_PREFIX}envoy.config.listener.v3.Listener`,
  clusters: `${TYPE_PREFIX}envoy.config.cluster.v3.Cluster`,
  routes: `${TYPE_PREFIX}envoy.config.route.v3.RouteConfiguration`,
  endpoints: `${TYPE_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
});

/**
 * The keys `MeshConfig.raw` may file each kind under: the `versions` key, the xDS short name
 * or the resource type URL. The first one present wins. The bootstrap's listeners and
 * clusters under Pilot's config are `static_listeners` and `static_clusters`.
 */
export const RAW_KEYS: Readonly<Record<XdsKind, readonly string[]>> = Object.freeze({
  listeners: ['listeners', 'LDS', RESOURCE_TYPES.listeners],
  clusters: ['clusters', 'CDS', RESOURCE_TYPES.clusters],
  routes: ['routes', 'RDS', RESOURCE_TYPES.routes],
  endpoints: ['endpoints', 'EDS', RESOURCE_TYPES.endpoints],
});

/** What /config_dump shows besides the xDS resources. */
export interface ConfigDumpInput {
  readonly config: MeshConfig | undefined;
  readonly status: ReturnType<MeshConfigSource['status']>;
  readonly identity: IdentitySnapshot | undefined;
  readonly trustDomain: string | undefined;
  readonly extra?: Record<string, unknown>;
}

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The /config_dump body: Envoy's sections, then Bowline's own state. */
export interface ConfigDump {
  readonly configs: readonly Record<string, Json>[];
  readonly bowline: Record<string, Json>;
}

/** Replaces anything that looks like key material. */
export const REDACTED = '[redacted]';
const SECRET_KEY = /^(private_?key|key_?pem|password|passphrase)$/i;
const MAX_DEPTH = 64;

/**
 * Envoy's `/config_dump` for what this proxy runs: listener, cluster, route and endpoint
 * sections holding the raw xDS resources as received, with their versions (the bootstrap
 * file's listeners and clusters as `static_*`, Pilot's as `dynamic_*`), then `bowline`:
 * where the config comes from, the Pilot stream state, the inbound mTLS policy, the
 * certificate (serial and dates, never the key) and the app's `extra`. Key material anywhere
 * (a `private_key` field, a PEM private key) is redacted.
 */
export function configDump(input: ConfigDumpInput): ConfigDump {
  const { config } = input;
  const version = (kind: XdsKind) => config?.versions[kind] ?? '';
  // A config from the bootstrap file alone is static, as Envoy files its bootstrap resources.
  const bootstrapOnly = input.status.source === 'bootstrap';
  const dynamic = (kind: XdsKind) => (bootstrapOnly ? [] : typed(rawResources(config, kind), kind));
  const fixed = (kind: 'listeners' | 'clusters') =>
    typed(bootstrapOnly ? rawResources(config, kind) : (config?.raw[`static_${kind}`] ?? []), kind);
  return {
    configs: [
      {
        '@type': CONFIG_DUMP_TYPES.listeners,
        version_info: version('listeners'),
        static_listeners: fixed('listeners').map((listener) => ({ listener })),
        dynamic_listeners: dynamic('listeners').map((listener) => ({
          name: nameOf(listener),
          active_state: { version_info: version('listeners'), listener },
        })),
      },
      {
        '@type': CONFIG_DUMP_TYPES.clusters,
        version_info: version('clusters'),
        static_clusters: fixed('clusters').map((cluster) => ({ cluster })),
        dynamic_active_clusters: dynamic('clusters').map((cluster) => ({ version_info: version('clusters'), cluster })),
      },
      {
        '@type': CONFIG_DUMP_TYPES.routes,
        dynamic_route_configs: dynamic('routes').map((route_config) => ({
          version_info: version('routes'),
          route_config,
        })),
      },
      {
        '@type': CONFIG_DUMP_TYPES.endpoints,
        dynamic_endpoint_configs: dynamic('endpoints').map((endpoint_config) => ({
          version_info: version('endpoints'),
          endpoint_config,
        })),
      },
    ],
    bowline: bowlineState(input),
  };
}

function bowlineState(input: ConfigDumpInput): Record<string, Json> {
  const { config, status, identity } = input;
  const certificate = identity?.certificate;
  return {
    source: status.source,
    connected: status.connected,
    lastError: status.lastError ?? null,
    versions: config ? { ...config.versions } : null,
    counts: config
      ? {
          listeners: config.listeners.size,
          routes: config.routes.size,
          clusters: config.clusters.size,
          endpoints: config.endpoints.size,
        }
      : null,
    inbound: config
      ? {
          defaultMode: config.inbound.defaultMode,
          portModes: Object.fromEntries([...config.inbound.portModes].map(([port, mode]) => [String(port), mode])),
        }
      : null,
    identity: certificate
      ? {
          spiffeId: certificate.spiffeId,
          serial: certificate.serial,
          notBefore: certificate.notBefore.toISOString(),
          notAfter: certificate.notAfter.toISOString(),
          trustDomain: input.trustDomain ?? null,
          roots: identity.rootsPem.length,
        }
      : null,
    extra: input.extra === undefined ? null : toJson(input.extra),
  };
}

function rawResources(config: MeshConfig | undefined, kind: XdsKind): readonly unknown[] {
  if (!config) return [];
  for (const key of RAW_KEYS[kind]) {
    const resources = config.raw[key];
    if (resources) return resources;
  }
  return [];
}

/** The resources as JSON, redacted, each with its `@type` (as Envoy shows an `Any`). */
function typed(resources: readonly unknown[], kind: XdsKind): Json[] {
  return resources.map((resource) => withType(resource, kind));
}

function withType(resource: unknown, kind: XdsKind): Json {
  const json = toJson(resource);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return json;
  return { '@type': RESOURCE_TYPES[kind], ...json };
}

function nameOf(resource: Json): Json {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) return null;
  return resource.name ?? null;
}

/**
 * `value` as plain JSON: Maps become objects, Sets arrays, bytes base64, dates ISO strings,
 * bigints and regular expressions strings; functions and symbols are left out, cycles and
 * nesting deeper than 64 cut. Fields named like key material and strings holding a PEM
 * private key become `[redacted]`.
 */
export function toJson(value: unknown, depth = 0, seen = new WeakSet<object>()): Json {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return /PRIVATE KEY/.test(value) ? REDACTED : value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'object':
      return objectToJson(value, depth, seen);
    default:
      return null;
  }
}

function objectToJson(value: object, depth: number, seen: WeakSet<object>): Json {
  if (value instanceof Date) return value.toISOString();
  if (value instanceof RegExp) return value.source;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (Array.isArray(value) || value instanceof Set) return [...value].map((item) => toJson(item, depth + 1, seen));
    const entries = value instanceof Map ? [...value] : Object.entries(value);
    const out: Record<string, Json> = {};
    for (const [key, item] of entries) {
      if (typeof item === 'function' || typeof item === 'symbol') continue;
      out[String(key)] = SECRET_KEY.test(String(key)) ? REDACTED : toJson(item, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
