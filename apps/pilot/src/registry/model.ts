/** A port of a mesh service (ServiceEntry `ports[]`, or one a registering workload declares). */
export interface ServicePort {
  readonly number: number;
  readonly name: string;
  readonly protocol: string;
  readonly targetPort?: number;
}

/** One workload instance behind a service. */
export interface ServiceEndpoint {
  readonly address: string;
  /** Workload ports by service port name (WorkloadEntry `ports`) or by service port number. */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount?: string;
  /** The workload's namespace (its identity is `spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>`). */
  readonly namespace?: string;
  /** Unhealthy endpoints (a registered proxy gone past its grace) are not sent to peers. */
  readonly healthy: boolean;
  /** Where it comes from: `ServiceEntry ns/name`, `WorkloadEntry ns/name` or `xds <node id>`. */
  readonly source: string;
}

/** A mesh service: its fully qualified host, ports and endpoints. */
export interface MeshService {
  readonly host: string;
  readonly namespace: string;
  readonly ports: readonly ServicePort[];
  readonly endpoints: readonly ServiceEndpoint[];
  /** `ServiceEntry ns/name`, or `xds` for a service only registering workloads declare. */
  readonly source: string;
}

/** The port an endpoint serves `port` of its service on. */
export function endpointPort(endpoint: ServiceEndpoint, port: ServicePort): number {
  return endpoint.ports[port.name] ?? endpoint.ports[String(port.number)] ?? port.targetPort ?? port.number;
}
