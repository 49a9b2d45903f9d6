import { isIP } from 'node:net';
import { fromStruct } from '#libs/proto';
import type { WorkloadRegistration } from '../registry/workload-registrations';
import { PilotError } from '../errors';
import type { NodeMessage } from './types';

/** Who is on the other end of an xDS stream, from its `Node` (id and metadata). */
export interface ProxyNode {
  readonly id: string;
  /** `sidecar`, `router`, ... (first field of an Istio node id); `sidecar` for other ids. */
  readonly type: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ips: readonly string[];
  readonly userAgent?: string;
  /**
   * A Bowline sidecar proxy (metadata BOWLINE_PROXY=sidecar): it gets Envoy's sidecar fields (retries,
   * timeouts, faults, traffic policies, mTLS, the inbound listener). Otherwise a proxyless gRPC client.
   */
  readonly sidecar?: boolean;
  /** Set when the node registers its workload as an endpoint (BOWLINE_SERVICE / BOWLINE_PORTS). */
  readonly registration?: WorkloadRegistration;
}

/**
 * Parses an xDS node. Istio's node id is `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>`;
 * metadata (Istio's names) NAMESPACE, SERVICE_ACCOUNT, LABELS (a map, `k=v,k=v` or JSON),
 * INSTANCE_IPS (comma-separated) override what the id says. A workload registers as an endpoint
 * with BOWLINE_SERVICE (the service it serves: a short name or a host) and BOWLINE_PORTS
 * (`<port>` or `<service port>:<workload port>`, comma-separated). BOWLINE_PROXY=sidecar marks a
 * Bowline sidecar proxy.
 */
export function parseNode(node: NodeMessage | null | undefined): ProxyNode {
  if (!node?.id) throw new PilotError('NODE_INVALID', 'the first discovery request must carry node.id');
  const metadata = fromStruct(node.metadata);
  const parts = node.id.split('~');
  const istio = parts.length === 4;
  const idNamespace = istio ? (parts[2].split('.')[1] ?? parts[3].split('.')[0]) : undefined;
  const namespace = stringOf(metadata.NAMESPACE) ?? idNamespace ?? 'default';
  const serviceAccount = stringOf(metadata.SERVICE_ACCOUNT) ?? 'default';
  const labels = parseLabels(metadata.LABELS);
  const ips = (stringOf(metadata.INSTANCE_IPS) ?? (istio ? parts[1] : ''))
    .split(',')
    .map((ip) => ip.trim())
    .filter((ip) => isIP(ip) !== 0);
  const service = stringOf(metadata.BOWLINE_SERVICE);
  const ports = parsePorts(stringOf(metadata.BOWLINE_PORTS) ?? '');
  const selectable = Object.keys(labels).length > 0;
  const registration: WorkloadRegistration | undefined =
    ips.length > 0 && (service || selectable)
      ? {
          nodeId: node.id,
          namespace,
          serviceAccount,
          labels,
          address: ips[0],
          service,
          ports,
          // A sidecar forwards whatever its app speaks (HTTP/1.1 or HTTP/2); a proxyless client serves gRPC.
          protocol: stringOf(metadata.BOWLINE_PROXY) === SIDECAR_PROXY ? 'HTTP' : 'GRPC',
        }
      : undefined;
  if (service && ips.length === 0) {
    throw new PilotError('NODE_INVALID', `node ${node.id} declares BOWLINE_SERVICE but no IP (INSTANCE_IPS or the id)`);
  }
  if (service && ports.size === 0) {
    throw new PilotError('NODE_INVALID', `node ${node.id} declares BOWLINE_SERVICE without BOWLINE_PORTS`);
  }
  const userAgent = node.user_agent_name
    ? `${node.user_agent_name}${node.user_agent_version ? `/${node.user_agent_version}` : ''}`
    : undefined;
  return {
    id: node.id,
    type: istio ? parts[0] : 'sidecar',
    namespace,
    serviceAccount,
    labels,
    ips,
    userAgent,
    sidecar: stringOf(metadata.BOWLINE_PROXY) === SIDECAR_PROXY,
    registration,
  };
}

/** The BOWLINE_PROXY value of a Bowline sidecar proxy. */
export const SIDECAR_PROXY = 'sidecar';

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function parseLabels(value: unknown): Record<string, string> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
  }
  if (typeof value !== 'string' || value.trim() === '') return {};
  if (value.trim().startsWith('{')) {
    try {
      return parseLabels(JSON.parse(value));
    } catch {
      throw new PilotError('NODE_INVALID', 'node metadata LABELS is not valid JSON');
    }
  }
  const labels: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const [key, ...rest] = pair.split('=');
    if (key.trim()) labels[key.trim()] = rest.join('=').trim();
  }
  return labels;
}

function parsePorts(value: string): Map<number, number> {
  const ports = new Map<number, number>();
  for (const entry of value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const [service, target = service] = entry.split(':').map(Number);
    if (!isPort(service) || !isPort(target)) {
      throw new PilotError('NODE_INVALID', `node metadata BOWLINE_PORTS: "${entry}" is not <port> or <port>:<port>`);
    }
    ports.set(service, target);
  }
  return ports;
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value > 0 && value < 65536;
}
