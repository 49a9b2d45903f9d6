import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { ConfigOf } from '#libs/config';
import type { schemas } from '#libs/config';
import type { Logger } from '#libs/logging';
import { InboundListener } from './dataplane/inbound';
import { MeshBalancer, meshRouting } from './dataplane/mesh-routing';
import { OutboundListener } from './dataplane/outbound';
import type { LocalWorkload } from './dataplane/records';
import { TlsMaterial } from './dataplane/tls-material';
import { UpstreamPools } from './dataplane/upstream-pools';
import { WorkloadIdentity } from './identity';
import { MeshConfigStore } from './mesh';
import { PolicyEnforcement } from './policy';
import { AccessLog, IstioMetrics, Reporters } from './telemetry';

export type ProxyConfig = ConfigOf<typeof schemas.proxy>;

/**
 * One sidecar: its identity (from Citadel), its config (Pilot and/or a bootstrap file), the
 * outbound and inbound listeners, and the telemetry they report to. The admin API (Nest) reads
 * `identity`, `mesh` and `metrics`.
 */
export class Sidecar {
  readonly identity: WorkloadIdentity;
  readonly mesh: MeshConfigStore;
  readonly metrics: IstioMetrics;
  readonly balancer = new MeshBalancer();
  private readonly accessLog?: AccessLog;
  private readonly pools: UpstreamPools;
  private readonly outbound: OutboundListener;
  private readonly inbound: InboundListener;
  /** In-proxy authorization (PROXY_POLICY_URL set), else undefined: every request passes. */
  readonly policy?: PolicyEnforcement;
  private ports?: { outbound: number; inbound: number };

  constructor(
    private readonly config: ProxyConfig,
    private readonly logger: Logger,
  ) {
    const workload = config.workload ?? shortName(config.service) ?? 'workload';
    const labels = parseLabels(config.labels);
    this.identity = new WorkloadIdentity({
      citadelAddress: config.citadelAddress,
      citadelServerName: config.citadelServerName,
      caRootsPem: readFileSync(config.caRootsFile, 'utf8'),
      joinToken: config.joinToken,
      certTtlMs: config.certTtl,
      namespace: config.namespace,
      serviceAccount: config.serviceAccount,
      trustDomain: config.trustDomain,
      logger: logger.child({ component: 'identity' }),
    });
    this.mesh = new MeshConfigStore({
      logger: logger.child({ component: 'xds' }),
      bootstrapFile: config.bootstrapFile,
      pilot: config.pilotAddress ? { address: config.pilotAddress, node: this.node(workload, labels) } : undefined,
    });
    this.mesh.onChange((mesh) => this.balancer.loadBalancers.update(mesh));
    const local: LocalWorkload = {
      workload,
      namespace: config.namespace,
      serviceHost: config.service ? serviceHost(config.service, config.namespace) : undefined,
      spiffeId: () => this.identity.current()?.certificate.spiffeId,
    };
    this.metrics = new IstioMetrics({
      local: { workload, namespace: config.namespace, app: labels.app, version: labels.version },
    });
    this.accessLog =
      config.accessLog === 'stdout'
        ? new AccessLog({ onDrop: (lines) => this.metrics.recordAccessLogDrops(lines) })
        : undefined;
    const reporter = new Reporters(this.accessLog ? [this.metrics, this.accessLog] : [this.metrics]);
    const tls = new TlsMaterial(this.identity);
    this.pools = new UpstreamPools(tls);
    const dataLogger = logger.child({ component: 'dataplane' });
    this.policy = config.policyUrl
      ? new PolicyEnforcement({
          config: {
            policyUrl: config.policyUrl,
            policyToken: config.policyToken,
            policyName: config.policyName,
            decisionLogs: config.decisionLogs,
            authzCacheEntries: config.authzCacheEntries,
          },
          local: { workload, namespace: config.namespace, labels },
          logger,
        })
      : undefined;
    if (this.policy) this.metrics.observeAuthorization(this.policy.authorizer);
    this.outbound = new OutboundListener({
      mesh: this.mesh,
      routing: meshRouting(config.namespace),
      balancer: this.balancer,
      pools: this.pools,
      reporter,
      local,
      logger: dataLogger,
    });
    this.inbound = new InboundListener({
      mesh: this.mesh,
      tls,
      pools: this.pools,
      reporter,
      local,
      logger: dataLogger,
      appHost: config.appHost,
      servicePorts: config.servicePorts ?? new Map(),
      authorizer: this.policy?.authorizer,
    });
  }

  /** Loads the bootstrap, opens the listeners, then follows Pilot and Citadel (in the background). */
  async start(): Promise<void> {
    this.mesh.start();
    this.policy?.start();
    const { bindAddress } = this.config;
    this.ports = {
      outbound: await this.outbound.listen(this.config.outboundPort, bindAddress),
      inbound: await this.inbound.listen(this.config.inboundPort, bindAddress),
    };
    this.identity.start().catch((error: unknown) => {
      this.logger.debug({ err: error }, 'identity stopped before a first certificate');
    });
  }

  /** What /ready still waits for beyond a certificate and a config: the first policy bundle. */
  pending(): string[] {
    return this.policy && !this.policy.ready ? ['no authorization bundle from the policy service yet'] : [];
  }

  /** Listener ports and pool state for /config_dump. */
  describe(): Record<string, unknown> {
    return {
      listeners: this.ports,
      identity: this.identity.status(),
      loadBalancing: this.balancer.loadBalancers.stats(),
      ...(this.policy ? { policy: this.policy.describe() } : {}),
    };
  }

  async stop(): Promise<void> {
    await Promise.all([this.outbound.close(), this.inbound.close()]);
    this.pools.close();
    await this.policy?.stop();
    this.mesh.stop();
    this.identity.stop();
    await this.accessLog?.close();
  }

  private node(workload: string, labels: Record<string, string>) {
    const { config } = this;
    const pod = `${workload}-${randomBytes(3).toString('hex')}`;
    const metadata: Record<string, unknown> = {
      BOWLINE_PROXY: 'sidecar',
      NAMESPACE: config.namespace,
      SERVICE_ACCOUNT: config.serviceAccount,
      LABELS: labels,
      INSTANCE_IPS: config.instanceIp,
      WORKLOAD_NAME: workload,
    };
    if (config.service && config.servicePorts) {
      metadata.BOWLINE_SERVICE = config.service;
      metadata.BOWLINE_PORTS = [...config.servicePorts.keys()].map((port) => `${port}:${config.inboundPort}`).join(',');
    }
    return {
      id:
        config.nodeId ??
        `sidecar~${config.instanceIp}~${pod}.${config.namespace}~${config.namespace}.svc.cluster.local`,
      cluster: workload,
      metadata,
    };
  }
}

/** The proxy admin token: configured, or the one in the output file, or a new one written there (0600). */
export async function proxyAdminToken(config: ProxyConfig, logger: Logger): Promise<string> {
  if (config.adminToken) return config.adminToken;
  const path = resolve(config.adminTokenOutput);
  const existing = await readFile(path, 'utf8').catch(() => '');
  if (existing.trim().length >= 32) {
    logger.info({ path }, 'using the proxy admin token in the output file');
    return existing.trim();
  }
  const token = `bwp_${randomBytes(32).toString('base64url')}`;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  logger.info({ path }, 'generated a proxy admin token; read it from the file');
  return token;
}

/** `k=v,k=v` → a map (validated at start-up). */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`PROXY_LABELS: "${pair}" is not key=value`);
    labels[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return labels;
}

function shortName(service: string | undefined): string | undefined {
  return service?.split('.')[0];
}

/** `reviews` in namespace `default` → `reviews.default.svc.cluster.local`; a full host stays. */
function serviceHost(service: string, namespace: string): string {
  const parts = service.split('.');
  if (parts.length >= 3) return service;
  return `${parts[0]}.${parts[1] ?? namespace}.svc.cluster.local`;
}
