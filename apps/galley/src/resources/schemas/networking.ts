import {
  arr,
  bool,
  duration,
  int,
  mapOf,
  obj,
  oneOfValues,
  percent,
  port,
  portSelector,
  str,
  stringMap,
  stringMatch,
  strs,
  type JsonSchema,
} from './builders';

// networking.istio.io: the fields of Istio's documented API (v1 / v1beta1 / v1alpha3 share them).

const destination = obj({ host: str, subset: str, port: portSelector }, ['host']);
const headerOperations = obj({ set: stringMap, add: stringMap, remove: strs });
const headers = obj({ request: headerOperations, response: headerOperations });
const stringMatches = mapOf(stringMatch);

const httpMatch = obj({
  name: str,
  uri: stringMatch,
  scheme: stringMatch,
  method: stringMatch,
  authority: stringMatch,
  headers: stringMatches,
  port,
  sourceLabels: stringMap,
  gateways: strs,
  queryParams: stringMatches,
  ignoreUriCase: bool,
  withoutHeaders: stringMatches,
  sourceNamespace: str,
  statPrefix: str,
});

const httpRoute = obj({
  name: str,
  match: arr(httpMatch),
  route: arr(obj({ destination, weight: int(0, 100), headers }, ['destination'])),
  redirect: obj({
    uri: str,
    authority: str,
    port,
    derivePort: oneOfValues('FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'),
    scheme: str,
    redirectCode: int(300, 399),
  }),
  directResponse: obj({ status: int(200, 599), body: obj({ string: str, bytes: str }) }, ['status']),
  delegate: obj({ name: str, namespace: str }, ['name']),
  rewrite: obj({ uri: str, authority: str, uriRegexRewrite: obj({ match: str, rewrite: str }) }),
  timeout: duration,
  retries: obj({
    attempts: int(0),
    perTryTimeout: duration,
    retryOn: str,
    retryRemoteLocalities: bool,
  }),
  fault: obj({
    delay: obj({ fixedDelay: duration, percentage: percent, percent: int(0, 100) }),
    abort: obj({ httpStatus: int(200, 599), grpcStatus: str, http2Error: str, percentage: percent }),
  }),
  mirror: destination,
  mirrors: arr(obj({ destination, percentage: percent }, ['destination'])),
  mirrorPercentage: percent,
  mirrorPercent: int(0, 100),
  corsPolicy: obj({
    allowOrigins: arr(stringMatch),
    allowOrigin: strs,
    allowMethods: strs,
    allowHeaders: strs,
    exposeHeaders: strs,
    maxAge: duration,
    allowCredentials: bool,
    unmatchedPreflights: oneOfValues('UNSPECIFIED', 'FORWARD', 'IGNORE'),
  }),
  headers,
});

const routeDestination = obj({ destination, weight: int(0, 100) }, ['destination']);
const l4Match = {
  destinationSubnets: strs,
  port,
  sourceLabels: stringMap,
  gateways: strs,
  sourceNamespace: str,
};

export const virtualService: JsonSchema = obj({
  hosts: arr(str, 1),
  gateways: strs,
  http: arr(httpRoute),
  tls: arr(
    obj({ match: arr(obj({ sniHosts: arr(str, 1), ...l4Match }, ['sniHosts']), 1), route: arr(routeDestination) }, [
      'match',
    ]),
  ),
  tcp: arr(obj({ match: arr(obj(l4Match)), route: arr(routeDestination) })),
  exportTo: strs,
});

const clientTls = obj({
  mode: oneOfValues('DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'),
  clientCertificate: str,
  privateKey: str,
  caCertificates: str,
  credentialName: str,
  subjectAltNames: strs,
  sni: str,
  insecureSkipVerify: bool,
  caCrl: str,
});

const loadBalancer = obj({
  simple: oneOfValues('UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'),
  consistentHash: obj({
    httpHeaderName: str,
    httpCookie: obj({ name: str, path: str, ttl: duration }, ['name']),
    useSourceIp: bool,
    httpQueryParameterName: str,
    ringHash: obj({ minimumRingSize: int(0) }),
    maglev: obj({ tableSize: int(0) }),
    minimumRingSize: int(0),
  }),
  localityLbSetting: obj({
    distribute: arr(obj({ from: str, to: mapOf(int(0)) })),
    failover: arr(obj({ from: str, to: str })),
    failoverPriority: strs,
    enabled: bool,
  }),
  warmupDurationSecs: duration,
});

const connectionPool = obj({
  tcp: obj({
    maxConnections: int(0),
    connectTimeout: duration,
    tcpKeepalive: obj({ probes: int(0), time: duration, interval: duration }),
    maxConnectionDuration: duration,
    idleTimeout: duration,
  }),
  http: obj({
    http1MaxPendingRequests: int(0),
    http2MaxRequests: int(0),
    maxRequestsPerConnection: int(0),
    maxRetries: int(0),
    idleTimeout: duration,
    h2UpgradePolicy: oneOfValues('DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'),
    useClientProtocol: bool,
    maxConcurrentStreams: int(0),
  }),
});

const outlierDetection = obj({
  consecutiveErrors: int(0),
  consecutiveGatewayErrors: int(0),
  consecutive5xxErrors: int(0),
  consecutiveLocalOriginFailures: int(0),
  splitExternalLocalOriginErrors: bool,
  interval: duration,
  baseEjectionTime: duration,
  maxEjectionPercent: int(0, 100),
  minHealthPercent: int(0, 100),
});

const trafficPolicy = obj({
  loadBalancer,
  connectionPool,
  outlierDetection,
  tls: clientTls,
  portLevelSettings: arr(obj({ port: portSelector, loadBalancer, connectionPool, outlierDetection, tls: clientTls })),
  tunnel: obj({ protocol: str, targetHost: str, targetPort: port }),
  proxyProtocol: obj({ version: oneOfValues('V1', 'V2') }),
});

export const destinationRule: JsonSchema = obj(
  {
    host: str,
    trafficPolicy,
    subsets: arr(obj({ name: str, labels: stringMap, trafficPolicy }, ['name'])),
    exportTo: strs,
    workloadSelector: obj({ matchLabels: stringMap }),
  },
  ['host'],
);

const PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'TCP', 'TLS', 'MYSQL', 'REDIS', 'UDP'];

export const workloadEntry: JsonSchema = obj({
  address: str,
  ports: mapOf(port),
  labels: stringMap,
  network: str,
  locality: str,
  weight: int(0),
  serviceAccount: str,
});

export const serviceEntry: JsonSchema = obj(
  {
    hosts: arr(str, 1),
    addresses: strs,
    ports: arr(obj({ number: port, protocol: oneOfValues(...PROTOCOLS), name: str, targetPort: port }, ['number'])),
    location: oneOfValues('MESH_EXTERNAL', 'MESH_INTERNAL'),
    resolution: oneOfValues('NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN'),
    endpoints: arr(workloadEntry),
    workloadSelector: obj({ labels: stringMap }),
    exportTo: strs,
    subjectAltNames: strs,
  },
  ['hosts'],
);

const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'];

export const gateway: JsonSchema = obj(
  {
    servers: arr(
      obj(
        {
          port: obj({ number: port, protocol: oneOfValues(...PROTOCOLS), name: str, targetPort: port }, [
            'number',
            'protocol',
          ]),
          bind: str,
          hosts: arr(str, 1),
          tls: obj({
            httpsRedirect: bool,
            mode: oneOfValues('PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'),
            serverCertificate: str,
            privateKey: str,
            caCertificates: str,
            credentialName: str,
            credentialNames: strs,
            subjectAltNames: strs,
            verifyCertificateSpki: strs,
            verifyCertificateHash: strs,
            minProtocolVersion: oneOfValues(...TLS_VERSIONS),
            maxProtocolVersion: oneOfValues(...TLS_VERSIONS),
            cipherSuites: strs,
            caCrl: str,
          }),
          defaultEndpoint: str,
          name: str,
        },
        ['port', 'hosts'],
      ),
      1,
    ),
    selector: stringMap,
  },
  ['servers'],
);
