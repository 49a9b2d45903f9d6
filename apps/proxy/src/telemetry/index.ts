/**
 * The proxy's telemetry: Istio's standard metrics (`IstioMetrics`, served on
 * `/stats/prometheus`), the Envoy-style JSON access log, and `Reporters` to feed both.
 */
export type {
  RequestRecord,
  RequestReporter,
  ResponseFlag,
  TcpLabelFields,
  TcpRecord,
  TcpReporter,
  WorkloadLabels,
} from './types';
export {
  AUTHORIZATION_DURATION_BUCKETS,
  IstioMetrics,
  ISTIO_DURATION_BUCKETS_MS,
  ISTIO_HTTP_LABEL_NAMES,
  ISTIO_SIZE_BUCKETS_BYTES,
  ISTIO_TCP_LABEL_NAMES,
  LATEST,
  UNKNOWN,
  type IstioHttpLabel,
  type IstioMetricsOptions,
  type IstioTcpLabel,
  type LocalWorkloadLabels,
  type AuthorizationProbe,
  type ProxyStateProbe,
} from './istio-metrics';
export { HistogramCells } from './series-index';
export { AccessLog, accessLogEntry, type AccessLogEntry, type AccessLogOptions } from './access-log';
export { Reporters, type AnyReporter } from './reporters';
export { NO_RESPONSE_FLAGS, responseFlagsText } from './response-flags';
