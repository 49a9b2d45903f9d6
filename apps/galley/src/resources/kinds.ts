/** The Istio API groups Galley accepts, with the versions Istio serves for each. */
const NETWORKING = { group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'] } as const;
const SECURITY = { group: 'security.istio.io', versions: ['v1', 'v1beta1'] } as const;

/** Every resource kind Galley stores, and the API group it belongs to. */
export const KINDS = {
  ServiceEntry: NETWORKING,
  WorkloadEntry: NETWORKING,
  VirtualService: NETWORKING,
  DestinationRule: NETWORKING,
  Gateway: NETWORKING,
  PeerAuthentication: SECURITY,
  AuthorizationPolicy: SECURITY,
  RequestAuthentication: SECURITY,
} as const;

export type Kind = keyof typeof KINDS;

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && Object.hasOwn(KINDS, value);
}

/** The apiVersions (`group/version`) accepted for `kind`. */
export function apiVersionsOf(kind: Kind): string[] {
  const { group, versions } = KINDS[kind];
  return versions.map((version) => `${group}/${version}`);
}

/** Identifies one resource: kind, namespace and name are unique together. */
export interface ResourceKey {
  readonly kind: Kind;
  readonly namespace: string;
  readonly name: string;
}

export function keyString(key: ResourceKey): string {
  return `${key.kind}/${key.namespace}/${key.name}`;
}

/** Resource metadata as Istio (Kubernetes) shapes it; only these fields are read by Galley. */
export interface Metadata {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  [other: string]: unknown;
}

/** A validated document: the whole object as the user wrote it (namespace defaulted). */
export interface ResourceObject {
  apiVersion: string;
  kind: Kind;
  metadata: Metadata;
  spec: Record<string, unknown>;
  [other: string]: unknown;
}

/** A document that passed validation, with where it sits in the request. */
export interface ValidDocument extends ResourceKey {
  readonly index: number;
  readonly object: ResourceObject;
  /** `metadata.resourceVersion` as sent: the version the writer last saw (optimistic concurrency). */
  readonly expectedVersion?: number;
}

export const DEFAULT_NAMESPACE = 'default';
