import type { XdsConnection } from '../xds/connection';
import { XDS_TYPES } from '../xds/types';

/** One type's state on one stream, as `GET /v1/proxy-status` shows it. */
export interface TypeStatus {
  status: string;
  /** The version the proxy accepted last (what it runs). */
  ackedVersion?: string;
  /** The version sent last (equal to ackedVersion when SYNCED). */
  sentVersion?: string;
  resources?: number;
  subscribed: readonly string[] | '*';
  lastPushAt?: string;
  lastAckAt?: string;
  error?: { message: string; version: string; at: string };
}

export interface ProxyStatus {
  nodeId: string;
  connectionId: string;
  type: string;
  namespace: string;
  serviceAccount: string;
  ips: string[];
  userAgent?: string;
  /** `sidecar` (BOWLINE_PROXY=sidecar: Envoy sidecar config) or `proxyless` (a gRPC client). */
  proxy: 'sidecar' | 'proxyless';
  registersWorkload: boolean;
  connectedAt: string;
  xds: Record<string, TypeStatus>;
}

/** The proxy-status view of one stream (istioctl proxy-status, per type). */
export function proxyStatus(connection: XdsConnection): ProxyStatus | undefined {
  const node = connection.node;
  if (!node) return undefined;
  const xds: Record<string, TypeStatus> = {};
  for (const type of XDS_TYPES) {
    const s = connection.subscriptions.get(type);
    xds[type] = {
      status: connection.status(type),
      ackedVersion: s?.ackedVersion,
      sentVersion: s?.sentVersion,
      resources: s?.sentCount,
      subscribed: s ? (s.names ?? '*') : [],
      lastPushAt: s?.lastPushAt?.toISOString(),
      lastAckAt: s?.lastAckAt?.toISOString(),
      error:
        s?.nack && connection.status(type) === 'NACK'
          ? { message: s.nack.message, version: s.nack.version, at: s.nack.at.toISOString() }
          : undefined,
    };
  }
  return {
    nodeId: node.id,
    connectionId: connection.id,
    type: node.type,
    namespace: node.namespace,
    serviceAccount: node.serviceAccount,
    ips: [...node.ips],
    userAgent: node.userAgent,
    proxy: node.sidecar ? 'sidecar' : 'proxyless',
    registersWorkload: node.registration !== undefined,
    connectedAt: connection.connectedAt.toISOString(),
    xds,
  };
}
