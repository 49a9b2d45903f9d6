/**
 * The mesh bench/pilot/ack-latency.ts applies: S services (a STATIC ServiceEntry with E inline
 * endpoints, a DestinationRule with a traffic policy and two subsets, a 90/10 VirtualService with
 * a timeout and retries), and the one-resource change each round applies. The same documents go
 * to Galley as YAML and, as ConfigResources, to the in-process recompute baseline.
 */
import { stringify } from 'yaml';
import type { ConfigResource } from '../../apps/pilot/src/registry/config-store';

export const NAMESPACE = 'default';
export const PORT = 8080;

/** What each round changes: a VirtualService's weights (RDS, every client) or a DestinationRule's policy (CDS, sidecars). */
export type Change = 'vs' | 'dr';

export interface MeshDocument {
  apiVersion: string;
  kind: 'ServiceEntry' | 'DestinationRule' | 'VirtualService';
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
}

const serviceName = (s: number) => `svc-${s}`;
export const serviceHost = (s: number) => `${serviceName(s)}.${NAMESPACE}.svc.cluster.local`;

function virtualService(s: number, v1Weight: number): MeshDocument {
  const name = serviceName(s);
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      hosts: [name],
      http: [
        {
          timeout: '5s',
          retries: { attempts: 2, perTryTimeout: '2s', retryOn: '5xx,connect-failure' },
          route: [
            { destination: { host: name, subset: 'v1' }, weight: v1Weight },
            { destination: { host: name, subset: 'v2' }, weight: 100 - v1Weight },
          ],
        },
      ],
    },
  };
}

function destinationRule(s: number, maxConnections: number): MeshDocument {
  const name = serviceName(s);
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      host: name,
      trafficPolicy: {
        loadBalancer: { simple: 'LEAST_REQUEST' },
        connectionPool: { tcp: { maxConnections } },
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  };
}

/** Every document of the mesh: S ServiceEntries, DestinationRules and VirtualServices. */
export function meshDocuments(services: number, endpoints: number): MeshDocument[] {
  const out: MeshDocument[] = [];
  for (let s = 0; s < services; s++) {
    out.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: serviceName(s), namespace: NAMESPACE },
      spec: {
        hosts: [serviceHost(s)],
        location: 'MESH_INTERNAL',
        ports: [{ number: PORT, name: 'http', protocol: 'HTTP' }],
        resolution: 'STATIC',
        endpoints: Array.from({ length: endpoints }, (_, e) => ({
          address: `10.${(s >> 8) & 255}.${s & 255}.${e + 1}`,
          labels: { app: serviceName(s), version: e % 2 ? 'v2' : 'v1' },
        })),
      },
    });
    out.push(destinationRule(s, 100));
    out.push(virtualService(s, 90));
  }
  return out;
}

/**
 * Round `round`'s change, to svc-0 only: new VirtualService weights, or a new DestinationRule
 * connection limit. Consecutive rounds always differ, so every round is a new version.
 */
export function changeDocument(change: Change, round: number): MeshDocument {
  return change === 'vs' ? virtualService(0, 51 + (round % 40)) : destinationRule(0, 101 + (round % 1000));
}

export function toYaml(documents: readonly MeshDocument[]): string {
  return documents.map((d) => stringify(d)).join('---\n');
}

/** A document as Pilot's ConfigStore holds it (what the Galley watch would deliver). */
export function toConfigResource(document: MeshDocument, resourceVersion: number): ConfigResource {
  return {
    kind: document.kind,
    namespace: document.metadata.namespace,
    name: document.metadata.name,
    resourceVersion,
    spec: document.spec,
    labels: {},
  };
}
