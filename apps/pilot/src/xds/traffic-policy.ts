import type { ConfigResource } from '../registry/config-store';

/** Istio's ConnectionPoolSettings, the parts Pilot translates. */
export interface ConnectionPoolSettings {
  tcp?: { maxConnections?: number; connectTimeout?: string };
  http?: {
    http1MaxPendingRequests?: number;
    http2MaxRequests?: number;
    maxRetries?: number;
    maxRequestsPerConnection?: number;
    idleTimeout?: string;
    h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
  };
}

/** Istio's OutlierDetection (`consecutiveErrors` is the deprecated name of `consecutive5xxErrors`). */
export interface OutlierDetectionSettings {
  consecutive5xxErrors?: number;
  consecutiveErrors?: number;
  consecutiveGatewayErrors?: number;
  interval?: string;
  baseEjectionTime?: string;
  maxEjectionPercent?: number;
  minHealthPercent?: number;
}

/** Istio's ClientTLSSettings, the parts Pilot translates. */
export interface ClientTlsSettings {
  mode?: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  subjectAltNames?: string[];
  sni?: string;
}

/** The components of a TrafficPolicy; each one overrides as a whole. */
export interface TrafficPolicyComponents {
  loadBalancer?: { simple?: string };
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetectionSettings;
  tls?: ClientTlsSettings;
}

/** Istio's TrafficPolicy: components, and components for single ports. */
export interface TrafficPolicy extends TrafficPolicyComponents {
  portLevelSettings?: (TrafficPolicyComponents & { port?: { number?: number } })[];
}

interface DestinationRuleSpec {
  trafficPolicy?: TrafficPolicy;
  subsets?: { name: string; trafficPolicy?: TrafficPolicy }[];
}

const COMPONENTS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const;

/**
 * The traffic policy of one cluster (a port of the rule's host, whole or one subset), merged as
 * Istio does (MergeTrafficPolicy): the rule's policy, overridden by its port-level settings for
 * the port, then by the subset's policy, then by the subset's port-level settings. Each component
 * (loadBalancer, connectionPool, outlierDetection, tls) replaces the one before it as a whole.
 */
export function effectiveTrafficPolicy(
  rule: ConfigResource | undefined,
  subset: string,
  port: number,
): TrafficPolicyComponents {
  const spec = (rule?.spec ?? {}) as DestinationRuleSpec;
  const top = applyPolicy({}, spec.trafficPolicy, port);
  if (!subset) return top;
  return applyPolicy(top, spec.subsets?.find((s) => s.name === subset)?.trafficPolicy, port);
}

function applyPolicy(
  base: TrafficPolicyComponents,
  policy: TrafficPolicy | undefined,
  port: number,
): TrafficPolicyComponents {
  if (!policy) return base;
  const portLevel = policy.portLevelSettings?.find((settings) => settings.port?.number === port);
  return override(override(base, policy), portLevel);
}

function override(base: TrafficPolicyComponents, policy: TrafficPolicyComponents | undefined): TrafficPolicyComponents {
  const out: TrafficPolicyComponents = { ...base };
  for (const component of COMPONENTS) {
    if (policy?.[component] !== undefined) Object.assign(out, { [component]: policy[component] });
  }
  return out;
}
