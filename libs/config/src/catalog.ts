import {
  count,
  duration,
  filePath,
  jsonPointers,
  key256,
  oneOf,
  port,
  portMap,
  postgresUrl,
  text,
  trustDomain,
} from './variables';
import { availableParallelism } from 'node:os';
import type { Schema } from './load';

/**
 * Every variable Bowline reads, in one place: the services load their slice of it, the
 * migration CLI loads `database`, and the README's configuration table is checked against it.
 */
export const database = {
  databaseUrl: postgresUrl('DATABASE_URL', {
    description:
      'PostgreSQL connection URL. The local runner and `npm test` start an embedded server when it is unset.',
    required: true,
    secret: true,
  }),
} satisfies Schema;

export const service = {
  ...database,
  logLevel: oneOf('BOWLINE_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const, {
    description: 'Minimum level of the JSON log lines written to stdout.',
    default: 'info',
  }),
  bindAddress: text('BOWLINE_BIND_ADDRESS', {
    description: 'Address every listener binds to.',
    default: '0.0.0.0',
  }),
  shutdownGrace: duration('BOWLINE_SHUTDOWN_GRACE', {
    description: 'How long SIGTERM/SIGINT waits for in-flight work before the process exits anyway.',
    default: 10_000,
  }),
  adminToken: text('BOWLINE_ADMIN_TOKEN', {
    description:
      'Bootstrap admin API token (at least 32 characters), registered on start if it is not known yet. Unset: the first service to start generates one and writes it to BOWLINE_ADMIN_TOKEN_OUTPUT.',
    minLength: 32,
    secret: true,
  }),
  adminTokenOutput: filePath('BOWLINE_ADMIN_TOKEN_OUTPUT', {
    description: 'Where a generated bootstrap admin token is written (mode 0600). Only its path is logged.',
    default: '.bowline/admin-token',
  }),
} satisfies Schema;

export const citadel = {
  ...service,
  grpcPort: port('CITADEL_GRPC_PORT', {
    description: 'Citadel gRPC over TLS (certificate signing, health, reflection).',
    default: 15012,
  }),
  adminPort: port('CITADEL_ADMIN_PORT', { description: 'Citadel HTTP admin API.', default: 8081 }),
  trustDomain: trustDomain('BOWLINE_TRUST_DOMAIN', {
    description: 'The SPIFFE trust domain of every workload identity (spiffe://<trust domain>/ns/<ns>/sa/<sa>).',
    default: 'cluster.local',
  }),
  kek: key256('BOWLINE_CA_KEK', {
    description:
      'Key-encryption key for the CA private keys stored in PostgreSQL (AES-256-GCM). Required unless CITADEL_DEV_KEK_FILE is set.',
    secret: true,
  }),
  devKekFile: filePath('CITADEL_DEV_KEK_FILE', {
    description:
      'Development only: with no BOWLINE_CA_KEK, read the KEK from this file, generating it (0600) on first start. Logged loudly.',
  }),
  caKeyType: oneOf('CITADEL_CA_KEY_TYPE', ['rsa-2048', 'ecdsa-p256'] as const, {
    description: 'Key type of a CA created on first start.',
    default: 'rsa-2048',
  }),
  defaultCertTtl: duration('CITADEL_DEFAULT_CERT_TTL', {
    description: 'Workload certificate lifetime when a request asks for none.',
    default: 24 * 3_600_000,
  }),
  maxCertTtl: duration('CITADEL_MAX_CERT_TTL', {
    description: 'Longest workload certificate lifetime a request may ask for; longer requests are refused.',
    default: 7 * 86_400_000,
  }),
  rootTtl: duration('CITADEL_ROOT_TTL', {
    description: 'Lifetime of a root CA created by Citadel.',
    default: 3650 * 86_400_000,
  }),
  intermediateTtl: duration('CITADEL_INTERMEDIATE_TTL', {
    description: 'Lifetime of an intermediate (signing) CA created by Citadel.',
    default: 365 * 86_400_000,
  }),
  signingWorkers: count('CITADEL_SIGNING_WORKERS', {
    description: 'Worker threads that parse CSRs and sign certificates (0: on the main thread). Default: one per core.',
    default: availableParallelism(),
    defaultText: 'number of cores',
    max: 64,
  }),
  caDir: filePath('CITADEL_CA_DIR', {
    description:
      "Plug-in CA: a directory in Istio's cacerts layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem) installed as the signing CA at start-up.",
  }),
  rootDistributionDelay: duration('CITADEL_ROOT_DISTRIBUTION_DELAY', {
    description:
      'Root rotation: how long the new root sits in the trust bundle before signing switches to it (proxies receive it first).',
    default: 30_000,
  }),
  serverDnsNames: text('CITADEL_SERVER_DNS_NAMES', {
    description:
      'Comma-separated DNS names in the certificate Citadel serves gRPC with (127.0.0.1 and ::1 are always included).',
    default: 'citadel,citadel.bowline-system.svc,localhost',
  }),
} satisfies Schema;

/** Istio's `meshConfig.rootNamespace`, shared by Pilot (PeerAuthentication) and Policy (AuthorizationPolicy). */
const meshRootNamespace = text('BOWLINE_ROOT_NAMESPACE', {
  description:
    'The root namespace (Istio `meshConfig.rootNamespace`): PeerAuthentication and AuthorizationPolicy resources there apply mesh-wide.',
  default: 'istio-system',
});

export const pilot = {
  ...service,
  grpcPort: port('PILOT_XDS_PORT', { description: 'Pilot gRPC (health, reflection; xDS).', default: 15010 }),
  adminPort: port('PILOT_ADMIN_PORT', { description: 'Pilot HTTP admin API.', default: 8082 }),
  galleyAddress: text('PILOT_GALLEY_ADDRESS', {
    description:
      "Galley's gRPC address (host:port) Pilot watches config from; Pilot keeps its last good config while Galley is away.",
    default: '127.0.0.1:15019',
  }),
  debounce: duration('PILOT_DEBOUNCE', {
    description: 'Quiet period after a config or registry change before Pilot computes and pushes xDS updates.',
    default: 100,
  }),
  disconnectGrace: duration('PILOT_DISCONNECT_GRACE', {
    description:
      'How long a workload that registered through its xDS stream stays a healthy endpoint after the stream drops.',
    default: 10_000,
  }),
  trustDomain: citadel.trustDomain,
  rootNamespace: meshRootNamespace,
} satisfies Schema;

export const galley = {
  ...service,
  grpcPort: port('GALLEY_GRPC_PORT', {
    description: 'Galley gRPC (health, reflection; config Watch).',
    default: 15019,
  }),
  adminPort: port('GALLEY_ADMIN_PORT', { description: 'Galley HTTP admin API.', default: 8083 }),
  trustDomain: citadel.trustDomain,
  configDir: filePath('GALLEY_CONFIG_DIR', {
    description:
      'A directory of *.yaml, *.yml and *.json config files applied on every change; deleting a file deletes its resources. Unset: REST only.',
  }),
  configDirRescan: duration('GALLEY_CONFIG_DIR_RESCAN', {
    description: 'How often GALLEY_CONFIG_DIR is rescanned in full, besides reacting to file system events.',
    default: 30_000,
  }),
  historyRetention: duration('GALLEY_HISTORY_RETENTION', {
    description:
      'How long the change history is kept (the latest version of a live resource is always kept); a Watch from an older version must relist.',
    default: 7 * 86_400_000,
  }),
  historyPruneInterval: duration('GALLEY_HISTORY_PRUNE_INTERVAL', {
    description: 'How often history older than GALLEY_HISTORY_RETENTION is pruned.',
    default: 600_000,
  }),
} satisfies Schema;

export const policy = {
  ...service,
  grpcPort: port('POLICY_GRPC_PORT', { description: 'Policy gRPC (health, reflection; ext_authz).', default: 9191 }),
  adminPort: port('POLICY_ADMIN_PORT', { description: 'Policy HTTP admin API.', default: 8084 }),
  opaPath: filePath('POLICY_OPA_PATH', {
    description: 'The OPA CLI used to compile Rego to WebAssembly; must be an executable file.',
    default: '.tools/opa',
  }),
  compileTimeout: duration('POLICY_COMPILE_TIMEOUT', {
    description: 'How long one OPA CLI run (check, build or test) may take before it is killed and the request fails.',
    default: 30_000,
  }),
  extAuthzPolicy: text('POLICY_EXTAUTHZ_POLICY', {
    description:
      'The policy whose active revision answers ext_authz Check (and /v1/authz/check without a policy). No active revision: every request is denied.',
    default: 'envoy-authz',
  }),
  activeRefresh: duration('POLICY_ACTIVE_REFRESH', {
    description:
      'How long a replica may keep using a cached active revision before looking it up again (activations made through this replica apply at once).',
    default: 2_000,
  }),
  decisionLogBuffer: count('POLICY_DECISION_LOG_BUFFER', {
    description:
      'Decisions this service makes (ext_authz, /v1/authz/check) waiting in memory to be stored; when full, new ones are dropped and counted. 0: not logged.',
    default: 10_000,
    max: 1_000_000,
  }),
  decisionLogFlush: duration('POLICY_DECISION_LOG_FLUSH', {
    description: 'How often buffered decisions are written to PostgreSQL (a failed write is retried).',
    default: 1_000,
  }),
  decisionLogRetention: duration('POLICY_DECISION_LOG_RETENTION', {
    description: 'How long decision logs are kept (by decision time) before they are pruned.',
    default: 7 * 86_400_000,
  }),
  decisionLogPruneInterval: duration('POLICY_DECISION_LOG_PRUNE_INTERVAL', {
    description: 'How often decision logs older than POLICY_DECISION_LOG_RETENTION are deleted.',
    default: 600_000,
  }),
  decisionLogMask: jsonPointers('POLICY_DECISION_LOG_MASK', {
    description:
      'Comma-separated JSON pointers (RFC 6901) into the input whose values are replaced by "[masked]" before a decision log is stored, e.g. /parsed_body/password (authorization, cookie, set-cookie and proxy-authorization headers always are).',
  }),
  galleyAddress: text('POLICY_GALLEY_ADDRESS', {
    description:
      "Galley's gRPC address (host:port) the policy service watches AuthorizationPolicies from; the last good set stays in use while Galley is away.",
    default: '127.0.0.1:15019',
  }),
  rootNamespace: meshRootNamespace,
  authzDebounce: duration('POLICY_AUTHZ_DEBOUNCE', {
    description: 'Quiet period after an AuthorizationPolicy change before the Istio authorization data is rebuilt.',
    default: 100,
  }),
} satisfies Schema;

/** The sidecar proxy: no database; identity from Citadel, config from Pilot and/or a bootstrap file. */
export const proxy = {
  logLevel: service.logLevel,
  bindAddress: service.bindAddress,
  shutdownGrace: service.shutdownGrace,
  adminPort: port('PROXY_ADMIN_PORT', {
    description: 'Proxy admin API (/ready, /stats/prometheus, /config_dump, /certs).',
    default: 15000,
  }),
  adminToken: text('PROXY_ADMIN_TOKEN', {
    description:
      'Bearer token (at least 32 characters) for the proxy admin API (everything but /ready). Unset: generated and written to PROXY_ADMIN_TOKEN_OUTPUT.',
    minLength: 32,
    secret: true,
  }),
  adminTokenOutput: filePath('PROXY_ADMIN_TOKEN_OUTPUT', {
    description: 'Where a generated proxy admin token is written (mode 0600). Only its path is logged.',
    default: '.bowline/proxy-admin-token',
  }),
  outboundPort: port('PROXY_OUTBOUND_PORT', {
    description: 'Outbound listener: the local app sends plain HTTP/1.1 or h2c here (Host or absolute-form URL).',
    default: 15001,
  }),
  inboundPort: port('PROXY_INBOUND_PORT', {
    description: 'Inbound listener: mTLS from other sidecars (and plaintext under PERMISSIVE), forwarded to the app.',
    default: 15006,
  }),
  instanceIp: text('PROXY_INSTANCE_IP', {
    description: "The address other sidecars reach this one's inbound listener on (registered with Pilot).",
    default: '127.0.0.1',
  }),
  appHost: text('PROXY_APP_HOST', {
    description: 'Where the local app listens (inbound traffic is forwarded there).',
    default: '127.0.0.1',
  }),
  namespace: text('PROXY_NAMESPACE', { description: 'Namespace of the workload.', default: 'default' }),
  trustDomain: citadel.trustDomain,
  serviceAccount: text('PROXY_SERVICE_ACCOUNT', {
    description: 'Service account of the workload (its identity is issued by the join token).',
    default: 'default',
  }),
  workload: text('PROXY_WORKLOAD', {
    description:
      'Workload name (Istio\'s source_workload / destination_workload). Default: PROXY_SERVICE or "workload".',
  }),
  labels: text('PROXY_LABELS', {
    description: 'Workload labels as k=v,k=v (DestinationRule subsets select on them).',
    default: '',
  }),
  service: text('PROXY_SERVICE', {
    description: 'The mesh service this workload serves (short name or host); unset for a client-only workload.',
  }),
  servicePorts: portMap('PROXY_SERVICE_PORTS', {
    description: 'Ports of PROXY_SERVICE and the local app port each is forwarded to, e.g. 9080:8080.',
  }),
  nodeId: text('PROXY_NODE_ID', {
    description: 'xDS node id. Default: sidecar~<instance ip>~<workload>.<namespace>~<namespace>.svc.cluster.local.',
  }),
  citadelAddress: text('PROXY_CITADEL_ADDRESS', {
    description: 'Citadel gRPC (TLS) host:port for certificates and the trust-bundle/revocation stream.',
    default: '127.0.0.1:15012',
  }),
  citadelServerName: text('PROXY_CITADEL_SERVER_NAME', {
    description: "Name checked in Citadel's serving certificate.",
    default: 'citadel',
  }),
  caRootsFile: filePath('PROXY_CA_ROOTS_FILE', {
    description:
      'PEM file with the mesh root certificate(s), trusted for the first contact with Citadel (then the bundle follows Citadel).',
    required: true,
  }),
  joinToken: text('BOWLINE_JOIN_TOKEN', {
    description:
      "Join token an admin minted for this workload's namespace and service account (first certificate only).",
    required: true,
    secret: true,
  }),
  certTtl: duration('PROXY_CERT_TTL', {
    description: 'Lifetime asked for the workload certificate; it is renewed at about half of it.',
    default: 86_400_000,
  }),
  pilotAddress: text('PROXY_PILOT_ADDRESS', {
    description: 'Pilot xDS host:port. Unset: only PROXY_BOOTSTRAP_FILE configures the proxy.',
  }),
  bootstrapFile: filePath('PROXY_BOOTSTRAP_FILE', {
    description:
      'Static config (JSON or YAML, Envoy bootstrap shape: static_resources.listeners/clusters) used before or without Pilot.',
  }),
  accessLog: oneOf('PROXY_ACCESS_LOG', ['stdout', 'off'] as const, {
    description: 'JSON access log line per request (Envoy-like fields) on stdout, or none.',
    default: 'stdout',
  }),
  policyUrl: text('PROXY_POLICY_URL', {
    description:
      "The policy service's admin base URL (e.g. http://policy:8084) the proxy takes its authorization bundle from (GET /v1/bundles/authz) and sends decision logs to. Unset: no in-proxy authorization, every request passes.",
  }),
  policyToken: text('PROXY_POLICY_TOKEN', {
    description:
      'Bearer API token for the policy service (POST /v1/tokens): role viewer to read bundles, operator if PROXY_DECISION_LOGS is on or denied.',
    secret: true,
  }),
  policyName: text('PROXY_POLICY_NAME', {
    description:
      "A Rego policy whose active revision is evaluated after the workload's AuthorizationPolicies (opa-envoy-plugin decision). Unset: AuthorizationPolicies only.",
  }),
  decisionLogs: oneOf('PROXY_DECISION_LOGS', ['on', 'denied', 'off'] as const, {
    description:
      'Send every in-proxy authorization decision (input masked) to the policy service, batched, when PROXY_POLICY_URL is set; denied: only the denials and the decisions an AUDIT AuthorizationPolicy marks (what explaining a refused request needs, at a fraction of the cost when most requests are allowed).',
    default: 'on',
  }),
  authzCacheEntries: count('PROXY_AUTHZ_CACHE_ENTRIES', {
    description:
      "AuthorizationPolicy decisions kept per bundle, by the outcomes of the tests the policies apply to each value they read (requests those tests cannot tell apart share one), from a key's second sighting, oldest dropped first; exact, since the generated module reads its input only through those tests. The Rego policy's decisions are kept likewise, by the parts of the input it can read. 0: every request is evaluated.",
    default: 4096,
    max: 1_000_000,
  }),
} satisfies Schema;

/** The local runner (`npm start`); the services do not read these. */
export const runner = {
  dataDir: filePath('BOWLINE_DATA_DIR', {
    description: 'Local runner: where the embedded PostgreSQL keeps its data (survives restarts).',
    default: '.bowline',
  }),
  embeddedPostgresPort: port('BOWLINE_EMBEDDED_PG_PORT', {
    description: 'Local runner: port of the embedded PostgreSQL (used only when DATABASE_URL is unset).',
    default: 54329,
  }),
} satisfies Schema;

/** The test command (`npm test`); it hands each test file its own database on this server. */
export const testing = {
  testDatabaseUrl: postgresUrl('BOWLINE_TEST_DATABASE_URL', {
    description:
      'Tests: the PostgreSQL server tests create their databases on. `npm test` sets it from DATABASE_URL or its embedded server.',
  }),
} satisfies Schema;

export const CATALOG = { database, service, citadel, pilot, galley, policy, proxy, runner, testing } as const;

/** Every variable name Bowline knows, for the unknown-variable check. */
export const KNOWN_VARIABLES: ReadonlySet<string> = new Set(
  Object.values(CATALOG).flatMap((schema) => Object.values(schema).map((spec) => spec.name)),
);
