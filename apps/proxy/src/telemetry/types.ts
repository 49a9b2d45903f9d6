/** Envoy's access-log response flags that Bowline sets. */
export type ResponseFlag =
  | 'NR' // no route configured
  | 'UH' // no healthy upstream host
  | 'UF' // upstream connection failure
  | 'URX' // retries (or connect attempts) exhausted
  | 'UT' // upstream request timeout
  | 'UO' // upstream overflow (circuit breaking)
  | 'UC' // upstream connection termination
  | 'UR' // upstream remote reset
  | 'DC' // downstream connection termination
  | 'FI' // fault injected (abort)
  | 'DI' // fault injected (delay)
  | 'UAEX' // unauthorized by the authorization policy
  | 'DPE'; // downstream protocol error (bad request, smuggling attempt)

/** One finished request (or TCP connection), as the data plane reports it to metrics and the access log. */
export interface RequestRecord {
  /** `source` = recorded by the client-side (outbound) sidecar, `destination` = by the server side (inbound). */
  readonly reporter: 'source' | 'destination';
  readonly startTime: Date;
  readonly durationMs: number;
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  /** `http`, `grpc`, `tcp` (Istio's request_protocol). */
  readonly protocol: 'http' | 'grpc' | 'tcp';
  /** Downstream protocol as seen on the wire: HTTP/1.1, HTTP/2. */
  readonly httpVersion: string;
  readonly responseCode: number;
  readonly grpcStatus?: string;
  readonly flags: readonly ResponseFlag[];
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly requestId?: string;
  readonly userAgent?: string;
  readonly upstreamHost?: string;
  readonly upstreamCluster?: string;
  readonly routeName?: string;
  /** SPIFFE IDs; `unknown` when not known (plaintext). */
  readonly sourcePrincipal: string;
  readonly destinationPrincipal: string;
  readonly sourceWorkload: string;
  readonly sourceNamespace: string;
  readonly destinationWorkload: string;
  readonly destinationNamespace: string;
  /** Destination service host (`reviews.default.svc.cluster.local`) and its short name. */
  readonly destinationService: string;
  readonly destinationServiceName: string;
  readonly connectionSecurityPolicy: 'mutual_tls' | 'none' | 'unknown';
  readonly responseFlagsText?: string;
  /** Labels of the source workload when known (peer metadata, or our own for `reporter: source`). */
  readonly sourceLabels?: WorkloadLabels;
  /** Labels of the destination workload when known (endpoint metadata, or our own for `reporter: destination`). */
  readonly destinationLabels?: WorkloadLabels;
  /** Why the upstream TLS handshake failed (Envoy's UPSTREAM_TRANSPORT_FAILURE_REASON), for the access log. */
  readonly upstreamTransportFailureReason?: string;
}

/** Where the data plane sends each finished request. */
export interface RequestReporter {
  report(record: RequestRecord): void;
}

/**
 * What Istio knows about a workload beyond its name and namespace (its `app`/`version` labels,
 * canonical service and revision, cluster). Unset fields are reported as Istio does: `unknown`,
 * or `latest` for a canonical revision. Reuse one object per peer: it is cheaper to key on.
 */
export interface WorkloadLabels {
  readonly app?: string;
  readonly version?: string;
  /** `service.istio.io/canonical-name`. */
  readonly canonicalService?: string;
  /** `service.istio.io/canonical-revision`. */
  readonly canonicalRevision?: string;
  /** The cluster ID (Istio's `CLUSTER_ID`, `Kubernetes` by default). */
  readonly cluster?: string;
}

/** The peer and service fields a TCP report shares with a request record. */
export type TcpLabelFields = Pick<
  RequestRecord,
  | 'reporter'
  | 'sourcePrincipal'
  | 'destinationPrincipal'
  | 'sourceWorkload'
  | 'sourceNamespace'
  | 'destinationWorkload'
  | 'destinationNamespace'
  | 'destinationService'
  | 'destinationServiceName'
  | 'connectionSecurityPolicy'
  | 'sourceLabels'
  | 'destinationLabels'
>;

/**
 * A step in the life of a proxied TCP connection, as Istio's TCP metrics count it: `opened`
 * once (when the peer is known), byte deltas as they flow (long connections report
 * periodically), `closed` once at the end. One record may carry several of these.
 */
export interface TcpRecord extends TcpLabelFields {
  /** This record opens the connection (`istio_tcp_connections_opened_total`). */
  readonly opened?: boolean;
  /** This record closes the connection (`istio_tcp_connections_closed_total`). */
  readonly closed?: boolean;
  /** Bytes sent to the downstream since the previous record of this connection. */
  readonly sentBytes: number;
  /** Bytes received from the downstream since the previous record of this connection. */
  readonly receivedBytes: number;
  /** Envoy response flags of the connection (`UF`, `UH`, `DC`...); empty when none. */
  readonly flags?: readonly ResponseFlag[];
}

/** Where the data plane sends TCP connection events. */
export interface TcpReporter {
  reportTcp(record: TcpRecord): void;
}
