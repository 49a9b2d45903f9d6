import { Counter, Gauge, Registry } from 'prom-client';
import { ExportedCounter, ExportedHistogram, type SeriesLabels } from './exported-metrics';
import { responseFlagsText } from './response-flags';
import { HistogramCells, SeriesIndex } from './series-index';
import type { RequestRecord, RequestReporter, TcpLabelFields, TcpRecord, TcpReporter, WorkloadLabels } from './types';

/**
 * Istio's labels on its HTTP/gRPC metrics, named as Istio's stats filter names them
 * (istio/proxy `istio_stats`; istio.io "Istio Standard Metrics").
 */
export const ISTIO_HTTP_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
  'response_code',
  'grpc_response_status',
] as const;

export type IstioHttpLabel = (typeof ISTIO_HTTP_LABEL_NAMES)[number];

/** Istio's TCP metrics carry the same labels minus `response_code` and `grpc_response_status`. */
export type IstioTcpLabel = Exclude<IstioHttpLabel, 'response_code' | 'grpc_response_status'>;

export const ISTIO_TCP_LABEL_NAMES: readonly IstioTcpLabel[] = ISTIO_HTTP_LABEL_NAMES.filter(
  (name): name is IstioTcpLabel => name !== 'response_code' && name !== 'grpc_response_status',
);

/**
 * `istio_request_duration_milliseconds` buckets: Envoy's default histogram buckets, which
 * Istio's sidecars use unless `sidecar.istio.io/statsHistogramBuckets` overrides them.
 */
export const ISTIO_DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);

/** `istio_request_bytes` / `istio_response_bytes` buckets (1 B to 10 MB, by decades). */
export const ISTIO_SIZE_BUCKETS_BYTES: readonly number[] = Object.freeze([
  1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
]);

/** Istio's value for a label it cannot fill. */
export const UNKNOWN = 'unknown';
/** Istio's canonical revision when none is known. */
export const LATEST = 'latest';

/** This proxy's own workload: it fills the local side's labels (source when outbound, destination when inbound). */
export interface LocalWorkloadLabels extends WorkloadLabels {
  readonly workload?: string;
  readonly namespace?: string;
}

export interface IstioMetricsOptions {
  readonly local?: LocalWorkloadLabels;
  /**
   * Most distinct series per family (HTTP, TCP); records that would add more are counted in
   * `bowline_proxy_istio_series_dropped_total` instead. Default 10 000.
   */
  readonly maxSeries?: number;
}

/** In-proxy authorization, read at each scrape (PolicyAuthorizer). */
export interface AuthorizationProbe {
  /** Decisions so far. */
  decisions(): { allowed: number; denied: number };
  /** The bundle revision enforced; null before the first bundle. */
  revision(): string | null;
  /** Wall time of each decision in seconds (input, evaluation, decision record), on AUTHORIZATION_DURATION_BUCKETS. */
  readonly durations: HistogramCells;
}

/** Buckets of `bowline_proxy_authorization_duration_seconds`: 5 µs to 10 ms. */
export const AUTHORIZATION_DURATION_BUCKETS = [
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01,
];

/** Read at each scrape for the proxy's own gauges. */
export interface ProxyStateProbe {
  /** notAfter of the current workload certificate; undefined before the first one. */
  certificateNotAfter(): Date | undefined;
  /** Is the xDS stream to Pilot up? */
  xdsConnected(): boolean;
}

interface HttpSeries {
  readonly labelKey: string;
  readonly labels: SeriesLabels<IstioHttpLabel>;
  requests: number;
  readonly duration: HistogramCells;
  readonly requestBytes: HistogramCells;
  readonly responseBytes: HistogramCells;
}

interface TcpSeries {
  readonly labelKey: string;
  readonly labels: SeriesLabels<IstioTcpLabel>;
  opened: number;
  closed: number;
  sent: number;
  received: number;
}

/** Workload labels with Istio's defaults applied. */
type ResolvedWorkloadLabels = Readonly<Required<WorkloadLabels>>;

const DEFAULT_MAX_SERIES = 10_000;
const HTTP_PATH_DEPTH = 16;
const TCP_PATH_DEPTH = 13;
const KEY_SEPARATOR = '\u0001';

/**
 * Istio's standard metrics for this proxy (`istio_requests_total`, the request duration and
 * size histograms, the four TCP counters), named, labelled and bucketed as Istio's sidecars
 * export them, plus a few `bowline_proxy_*` gauges. Its own prom-client `Registry`, separate
 * from the control plane's process registry: `render()` is what `/stats/prometheus` serves.
 *
 * Reporting is cheap: a record finds its series through a few `Map` lookups on its raw fields
 * and bumps numbers; label strings are built once per series, never per request.
 */
export class IstioMetrics implements RequestReporter, TcpReporter {
  /** The registry `render()` reads; nothing else registers on it. */
  readonly registry = new Registry();

  private readonly own: ResolvedWorkloadLabels;
  private readonly local: LocalWorkloadLabels;
  private readonly http: SeriesIndex<HttpSeries>;
  private readonly tcp: SeriesIndex<TcpSeries>;
  /** Scratch lookup paths, reused by every report (JavaScript runs one report at a time). */
  private readonly httpPath: unknown[] = new Array<unknown>(HTTP_PATH_DEPTH);
  private readonly tcpPath: unknown[] = new Array<unknown>(TCP_PATH_DEPTH);
  private readonly workloadKeys = new WeakMap<WorkloadLabels, string>();
  private readonly dropped = { http: 0, tcp: 0 };
  private readonly accessLogDrops: Counter;
  private probe?: ProxyStateProbe;
  private authorization?: AuthorizationProbe;

  constructor(options: IstioMetricsOptions = {}) {
    const maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
    this.local = options.local ?? {};
    this.own = ownLabels(this.local);
    this.http = new SeriesIndex(HTTP_PATH_DEPTH, maxSeries);
    this.tcp = new SeriesIndex(TCP_PATH_DEPTH, maxSeries);
    this.declareIstioMetrics();
    this.accessLogDrops = this.declareProxyMetrics();
  }

  /** The Prometheus text format's content type (`text/plain; version=0.0.4; charset=utf-8`). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Counts one finished request: `istio_requests_total` and the three histograms. A record
   * with `protocol: 'tcp'` is a whole TCP connection: it opens and closes one connection with
   * `requestBytes` received and `responseBytes` sent (use either this or `reportTcp` per connection).
   */
  report(record: RequestRecord): void {
    const flags = responseFlagsText(record.flags, record.responseFlagsText);
    if (record.protocol === 'tcp') {
      this.countTcp(record, flags, true, true, record.responseBytes, record.requestBytes);
      return;
    }
    const series = this.httpSeries(record, flags);
    if (series === undefined) {
      this.dropped.http += 1;
      return;
    }
    series.requests += 1;
    series.duration.observe(record.durationMs);
    series.requestBytes.observe(record.requestBytes);
    series.responseBytes.observe(record.responseBytes);
  }

  /** Counts a TCP connection event: opened / closed and the byte deltas it carries. */
  reportTcp(record: TcpRecord): void {
    const flags = responseFlagsText(record.flags);
    this.countTcp(
      record,
      flags,
      record.opened === true,
      record.closed === true,
      record.sentBytes,
      record.receivedBytes,
    );
  }

  /** Feeds the `bowline_proxy_authorization_*` metrics from `probe` at each scrape (a proxy enforcing bundles). */
  observeAuthorization(probe: AuthorizationProbe): void {
    this.authorization = probe;
  }

  /** Feeds `bowline_proxy_cert_expiry_seconds` and `bowline_proxy_xds_connected` from `probe` at each scrape. */
  observeProxyState(probe: ProxyStateProbe): void {
    this.probe = probe;
  }

  /** Adds access-log lines dropped because the log's stream was backed up. */
  recordAccessLogDrops(lines: number): void {
    if (lines > 0) this.accessLogDrops.inc(lines);
  }

  /** The Prometheus text exposition of every metric here. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  private httpSeries(record: RequestRecord, flags: string): HttpSeries | undefined {
    const path = this.httpPath;
    fillPeerPath(path, record);
    path[9] = record.protocol;
    path[10] = record.responseCode;
    path[11] = record.grpcStatus;
    path[12] = flags;
    path[13] = record.connectionSecurityPolicy;
    path[14] = this.workloadKey(record.sourceLabels);
    path[15] = this.workloadKey(record.destinationLabels);
    return this.http.resolve(path, this.newHttpSeries, record, flags);
  }

  private readonly newHttpSeries = (record: RequestRecord, flags: string): HttpSeries => {
    const labels: Record<IstioHttpLabel, string> = {
      ...this.peerLabels(record, flags),
      request_protocol: record.protocol,
      response_code: String(record.responseCode),
      // Istio leaves it empty outside gRPC, and when a gRPC response had no status.
      grpc_response_status: record.protocol === 'grpc' ? (record.grpcStatus ?? '') : '',
    };
    return {
      labelKey: labelKey(labels, ISTIO_HTTP_LABEL_NAMES),
      labels: Object.freeze(labels),
      requests: 0,
      duration: new HistogramCells(ISTIO_DURATION_BUCKETS_MS),
      requestBytes: new HistogramCells(ISTIO_SIZE_BUCKETS_BYTES),
      responseBytes: new HistogramCells(ISTIO_SIZE_BUCKETS_BYTES),
    };
  };

  private countTcp(
    fields: TcpLabelFields,
    flags: string,
    opened: boolean,
    closed: boolean,
    sent: number,
    received: number,
  ): void {
    const series = this.tcpSeries(fields, flags);
    if (series === undefined) {
      this.dropped.tcp += 1;
      return;
    }
    if (opened) series.opened += 1;
    if (closed) series.closed += 1;
    if (sent > 0) series.sent += sent;
    if (received > 0) series.received += received;
  }

  private tcpSeries(fields: TcpLabelFields, flags: string): TcpSeries | undefined {
    const path = this.tcpPath;
    fillPeerPath(path, fields);
    path[9] = flags;
    path[10] = fields.connectionSecurityPolicy;
    path[11] = this.workloadKey(fields.sourceLabels);
    path[12] = this.workloadKey(fields.destinationLabels);
    return this.tcp.resolve(path, this.newTcpSeries, fields, flags);
  }

  private readonly newTcpSeries = (fields: TcpLabelFields, flags: string): TcpSeries => {
    const labels: Record<IstioTcpLabel, string> = {
      ...this.peerLabels(fields, flags),
      request_protocol: 'tcp',
    };
    return {
      labelKey: labelKey(labels, ISTIO_TCP_LABEL_NAMES),
      labels: Object.freeze(labels),
      opened: 0,
      closed: 0,
      sent: 0,
      received: 0,
    };
  };

  /** The labels HTTP and TCP series share, with Istio's fallbacks for what is not known. */
  private peerLabels(fields: TcpLabelFields, flags: string): Omit<Record<IstioTcpLabel, string>, 'request_protocol'> {
    const outbound = fields.reporter === 'source';
    const source = workloadLabels(fields.sourceLabels, outbound ? this.own : undefined);
    const destination = workloadLabels(fields.destinationLabels, outbound ? undefined : this.own);
    const sourceWorkload = fields.sourceWorkload || (outbound ? this.local.workload : undefined);
    const destinationWorkload = fields.destinationWorkload || (outbound ? undefined : this.local.workload);
    const destinationNamespace = fields.destinationNamespace || (outbound ? undefined : this.local.namespace);
    return {
      reporter: fields.reporter,
      source_workload: known(sourceWorkload),
      source_canonical_service: source.canonicalService,
      source_canonical_revision: source.canonicalRevision,
      source_workload_namespace: known(fields.sourceNamespace || (outbound ? this.local.namespace : undefined)),
      source_principal: known(fields.sourcePrincipal),
      source_app: source.app,
      source_version: source.version,
      source_cluster: source.cluster,
      destination_workload: known(destinationWorkload),
      destination_workload_namespace: known(destinationNamespace),
      destination_principal: known(fields.destinationPrincipal),
      destination_app: destination.app,
      destination_version: destination.version,
      destination_service: known(fields.destinationService),
      destination_canonical_service: destination.canonicalService,
      destination_canonical_revision: destination.canonicalRevision,
      destination_service_name: known(fields.destinationServiceName),
      destination_service_namespace: known(destinationNamespace),
      destination_cluster: destination.cluster,
      response_flags: flags,
      // Istio: a client-side proxy cannot tell the server's policy, so it always reports unknown.
      connection_security_policy: outbound ? UNKNOWN : known(fields.connectionSecurityPolicy),
    };
  }

  /** A string standing for the content of `labels` (cached per object), or undefined. */
  private workloadKey(labels: WorkloadLabels | undefined): string | undefined {
    if (labels === undefined) return undefined;
    let key = this.workloadKeys.get(labels);
    if (key === undefined) {
      key = [labels.app, labels.version, labels.canonicalService, labels.canonicalRevision, labels.cluster].join(
        KEY_SEPARATOR,
      );
      this.workloadKeys.set(labels, key);
    }
    return key;
  }

  private declareIstioMetrics(): void {
    const registry = this.registry;
    const http = () => this.http.series();
    const tcp = () => this.tcp.series();
    const httpSpec = { registry, labelNames: ISTIO_HTTP_LABEL_NAMES };
    const tcpSpec = { registry, labelNames: ISTIO_TCP_LABEL_NAMES };
    new ExportedCounter({ ...httpSpec, name: 'istio_requests_total', help: 'Requests handled by this proxy.' }, () =>
      map(http(), (s) => ({ labels: s.labels, value: s.requests })),
    );
    new ExportedHistogram(
      {
        ...httpSpec,
        name: 'istio_request_duration_milliseconds',
        help: 'Duration of requests, in milliseconds.',
        buckets: ISTIO_DURATION_BUCKETS_MS,
      },
      () => map(http(), (s) => ({ labels: s.labels, cells: s.duration })),
    );
    new ExportedHistogram(
      {
        ...httpSpec,
        name: 'istio_request_bytes',
        help: 'Sizes of HTTP requests, in bytes.',
        buckets: ISTIO_SIZE_BUCKETS_BYTES,
      },
      () => map(http(), (s) => ({ labels: s.labels, cells: s.requestBytes })),
    );
    new ExportedHistogram(
      {
        ...httpSpec,
        name: 'istio_response_bytes',
        help: 'Sizes of HTTP responses, in bytes.',
        buckets: ISTIO_SIZE_BUCKETS_BYTES,
      },
      () => map(http(), (s) => ({ labels: s.labels, cells: s.responseBytes })),
    );
    const tcpCounters: [string, string, (s: TcpSeries) => number][] = [
      ['istio_tcp_sent_bytes_total', 'Bytes sent to the downstream on TCP connections.', (s) => s.sent],
      ['istio_tcp_received_bytes_total', 'Bytes received from the downstream on TCP connections.', (s) => s.received],
      ['istio_tcp_connections_opened_total', 'TCP connections opened.', (s) => s.opened],
      ['istio_tcp_connections_closed_total', 'TCP connections closed.', (s) => s.closed],
    ];
    for (const [name, help, value] of tcpCounters) {
      new ExportedCounter({ ...tcpSpec, name, help }, () => map(tcp(), (s) => ({ labels: s.labels, value: value(s) })));
    }
  }

  /** `bowline_proxy_authorization_*`: no series until a PolicyAuthorizer is observed. */
  private declareAuthorizationMetrics(): void {
    const registry = this.registry;
    const probe = () => this.authorization;
    new ExportedCounter(
      {
        registry,
        labelNames: ['result'],
        name: 'bowline_proxy_authorization_decisions_total',
        help: 'In-proxy authorization decisions, by result (allowed or denied).',
      },
      () => {
        const counts = probe()?.decisions();
        return counts
          ? [
              { labels: { result: 'allowed' }, value: counts.allowed },
              { labels: { result: 'denied' }, value: counts.denied },
            ]
          : [];
      },
    );
    new ExportedHistogram(
      {
        registry,
        labelNames: [],
        name: 'bowline_proxy_authorization_duration_seconds',
        help: 'Wall time of one in-proxy authorization decision: the module input, the wasm evaluation and the decision record.',
        buckets: AUTHORIZATION_DURATION_BUCKETS,
      },
      () => {
        const cells = probe()?.durations;
        return cells ? [{ labels: {}, cells }] : [];
      },
    );
    const bundle: Gauge<'revision'> = new Gauge({
      name: 'bowline_proxy_authorization_bundle_info',
      help: 'Always 1, labelled with the authorization bundle revision the proxy enforces (no series before the first bundle).',
      labelNames: ['revision'],
      registers: [registry],
      collect: () => {
        bundle.reset();
        const revision = readRevision(() => probe()?.revision() ?? null);
        if (revision !== null) bundle.set({ revision }, 1);
      },
    });
  }

  /** Declares the `bowline_proxy_*` metrics; returns the access-log drop counter. */
  private declareProxyMetrics(): Counter {
    const registers = [this.registry];
    const expiry: Gauge = new Gauge({
      name: 'bowline_proxy_cert_expiry_seconds',
      help: 'notAfter of the workload certificate, as a Unix timestamp; 0 before the first certificate.',
      registers,
      collect: () => expiry.set(readProbe(() => (this.probe?.certificateNotAfter()?.getTime() ?? 0) / 1000)),
    });
    const xds: Gauge = new Gauge({
      name: 'bowline_proxy_xds_connected',
      help: '1 while the xDS stream to Pilot is up, else 0.',
      registers,
      collect: () => xds.set(readProbe(() => (this.probe?.xdsConnected() ? 1 : 0))),
    });
    this.declareAuthorizationMetrics();
    const exported = { http: 0, tcp: 0 };
    const dropped: Counter<'family'> = new Counter({
      name: 'bowline_proxy_istio_series_dropped_total',
      help: 'Reports left out of the istio_* metrics because their family already had the most series allowed.',
      labelNames: ['family'],
      registers,
      collect: () => {
        for (const family of ['http', 'tcp'] as const) {
          dropped.inc({ family }, this.dropped[family] - exported[family]);
          exported[family] = this.dropped[family];
        }
      },
    });
    return new Counter({
      name: 'bowline_proxy_access_log_dropped_total',
      help: 'Access-log lines dropped because the log stream was backed up.',
      registers,
    });
  }
}

/** The revision `read` returns, or null when it throws: a probe must never fail a scrape. */
function readRevision(read: () => string | null): string | null {
  try {
    return read();
  } catch {
    return null;
  }
}

/** What `read` returns, or 0 when it throws: a probe must never fail a scrape. */
function readProbe(read: () => number): number {
  try {
    return read();
  } catch {
    return 0;
  }
}

/** Istio's defaults for our own workload: canonical service from `app` or the workload name, revision from `version`. */
function ownLabels(local: LocalWorkloadLabels): ResolvedWorkloadLabels {
  return Object.freeze({
    app: known(local.app),
    version: known(local.version),
    canonicalService: known(local.canonicalService || local.app || local.workload),
    canonicalRevision: local.canonicalRevision || local.version || LATEST,
    cluster: known(local.cluster),
  });
}

/** `given` field by field, else `own` (our side of the traffic), else Istio's unknowns. */
function workloadLabels(
  given: WorkloadLabels | undefined,
  own: ResolvedWorkloadLabels | undefined,
): ResolvedWorkloadLabels {
  return {
    app: given?.app || own?.app || UNKNOWN,
    version: given?.version || own?.version || UNKNOWN,
    canonicalService: given?.canonicalService || own?.canonicalService || UNKNOWN,
    canonicalRevision: given?.canonicalRevision || own?.canonicalRevision || LATEST,
    cluster: given?.cluster || own?.cluster || UNKNOWN,
  };
}

function known(value: string | undefined): string {
  return value || UNKNOWN;
}

function labelKey<L extends string>(labels: Readonly<Record<L, string>>, names: readonly L[]): string {
  return names.map((name) => labels[name]).join(KEY_SEPARATOR);
}

function* map<T, U>(items: Iterable<T>, fn: (item: T) => U): Generator<U> {
  for (const item of items) yield fn(item);
}

/** The first nine series-key parts, shared by HTTP and TCP series: reporter and both peers. */
function fillPeerPath(path: unknown[], fields: TcpLabelFields): void {
  path[0] = fields.reporter;
  path[1] = fields.sourceWorkload;
  path[2] = fields.sourceNamespace;
  path[3] = fields.sourcePrincipal;
  path[4] = fields.destinationWorkload;
  path[5] = fields.destinationNamespace;
  path[6] = fields.destinationPrincipal;
  path[7] = fields.destinationService;
  path[8] = fields.destinationServiceName;
}
