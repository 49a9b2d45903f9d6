import type { RequestRecord, ResponseFlag } from '../telemetry/types';
import type { Downstream } from './downstream';
import { workloadOf } from './tls-material';

/** Who this sidecar fronts, for the labels of its metrics and access log. */
export interface LocalWorkload {
  readonly workload: string;
  readonly namespace: string;
  /** The service this workload serves (its full host), for inbound records. */
  readonly serviceHost?: string;
  /** Our SPIFFE ID, once a certificate is issued. */
  spiffeId(): string | undefined;
}

export interface RecordFields {
  readonly startTime: Date;
  readonly durationMs: number;
  readonly status: number;
  readonly flags: readonly ResponseFlag[];
  readonly requestId?: string;
  readonly upstreamHost?: string;
  readonly upstreamCluster?: string;
  readonly routeName?: string;
  readonly sourcePrincipal: string;
  readonly destinationPrincipal: string;
  readonly destinationService: string;
  readonly connectionSecurityPolicy: RequestRecord['connectionSecurityPolicy'];
  readonly sourceWorkload?: string;
}

/** The record of one finished exchange, with Istio's label values (`unknown` where not known). */
export function recordFor(
  reporter: RequestRecord['reporter'],
  down: Downstream,
  local: LocalWorkload,
  fields: RecordFields,
): RequestRecord {
  const source = reporter === 'source';
  const peerNamespace = workloadOf(source ? fields.destinationPrincipal : fields.sourcePrincipal)?.namespace;
  const service = fields.destinationService;
  return {
    reporter,
    startTime: fields.startTime,
    durationMs: fields.durationMs,
    method: down.method,
    path: down.path,
    authority: down.authority,
    protocol: down.grpc ? 'grpc' : 'http',
    httpVersion: down.protocol,
    responseCode: fields.status,
    flags: fields.flags,
    requestBytes: down.bytesReceived(),
    responseBytes: down.bytesSent(),
    requestId: fields.requestId,
    userAgent: headerText(down.headers['user-agent']),
    upstreamHost: fields.upstreamHost,
    upstreamCluster: fields.upstreamCluster,
    routeName: fields.routeName,
    sourcePrincipal: fields.sourcePrincipal,
    destinationPrincipal: fields.destinationPrincipal,
    sourceWorkload: source ? local.workload : (fields.sourceWorkload ?? 'unknown'),
    sourceNamespace: source ? local.namespace : (peerNamespace ?? 'unknown'),
    destinationWorkload: source ? 'unknown' : local.workload,
    destinationNamespace: source ? (peerNamespace ?? namespaceOfHost(service)) : local.namespace,
    destinationService: service,
    destinationServiceName: service.split('.')[0] || 'unknown',
    connectionSecurityPolicy: fields.connectionSecurityPolicy,
  };
}

function namespaceOfHost(host: string): string {
  const parts = host.split('.');
  return parts.length >= 2 && parts[2] === 'svc' ? parts[1] : 'unknown';
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
