import { formatSpiffeId } from '#libs/pki';

/** Mesh-wide settings that sidecar config depends on. */
export interface MeshOptions {
  /** The SPIFFE trust domain of workload identities (`spiffe://<trustDomain>/ns/<ns>/sa/<sa>`). */
  readonly trustDomain: string;
  /** Istio's root namespace: a PeerAuthentication there without a selector applies mesh-wide. */
  readonly rootNamespace: string;
}

/** Istio's defaults: trust domain `cluster.local`, root namespace `istio-system` (as the policy service's). */
export const DEFAULT_MESH_OPTIONS: MeshOptions = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

/**
 * The mesh options from Pilot's config: its `trustDomain` and `rootNamespace` settings when its
 * schema has them, the defaults otherwise.
 */
export function meshOptions(config: object): MeshOptions {
  const setting = (key: keyof MeshOptions): string | undefined => {
    const value = (config as Partial<Record<keyof MeshOptions, unknown>>)[key];
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  };
  return {
    trustDomain: setting('trustDomain') ?? DEFAULT_MESH_OPTIONS.trustDomain,
    rootNamespace: setting('rootNamespace') ?? DEFAULT_MESH_OPTIONS.rootNamespace,
  };
}

/** The SPIFFE ID of a workload identity, or undefined when a part is not valid in one. */
export function workloadSpiffeId(trustDomain: string, namespace: string, serviceAccount: string): string | undefined {
  try {
    return formatSpiffeId({ trustDomain, namespace, serviceAccount });
  } catch {
    return undefined;
  }
}
