import type { Logger } from '#libs/logging';
import { BundleClient } from './bundle-client';
import { DecisionLogShipper } from './decision-log-shipper';
import type { LocalWorkloadInfo } from './input';
import { PolicyAuthorizer } from './policy-authorizer';

/** The proxy configuration in-proxy authorization reads (PROXY_POLICY_*, PROXY_DECISION_LOGS, PROXY_AUTHZ_CACHE_ENTRIES). */
export interface PolicyEnforcementConfig {
  /** The policy service's admin base URL. */
  readonly policyUrl: string;
  readonly policyToken?: string;
  readonly policyName?: string;
  /** on: every decision is sent to the policy service; denied: only denials; off: none. */
  readonly decisionLogs: 'on' | 'denied' | 'off';
  readonly authzCacheEntries?: number;
}

export interface PolicyEnforcementOptions {
  readonly config: PolicyEnforcementConfig;
  readonly local: LocalWorkloadInfo & { readonly workload: string };
  readonly logger: Logger;
}

/**
 * In-proxy authorization, assembled: the authorizer the inbound listener asks, the client that
 * keeps its bundle current, and the decision-log shipper. `ready` is false until a first bundle
 * is loaded (until then every inbound request is denied: fail closed).
 */
export class PolicyEnforcement {
  readonly authorizer: PolicyAuthorizer;
  private readonly client: BundleClient;
  private readonly shipper?: DecisionLogShipper;

  constructor(options: PolicyEnforcementOptions) {
    const { config, local, logger } = options;
    const base = { baseUrl: config.policyUrl, token: config.policyToken };
    this.shipper =
      config.decisionLogs !== 'off'
        ? new DecisionLogShipper({ ...base, logger: logger.child({ component: 'decision-logs' }) })
        : undefined;
    this.authorizer = new PolicyAuthorizer({
      local: { namespace: local.namespace, labels: local.labels },
      logger: logger.child({ component: 'authz' }),
      decisions: this.shipper,
      logAllowed: config.decisionLogs === 'on',
      reporter: `proxy:${local.workload}.${local.namespace}`,
      cacheEntries: config.authzCacheEntries,
    });
    this.client = new BundleClient({
      ...base,
      namespace: local.namespace,
      labels: local.labels,
      policy: config.policyName,
      install: (bundle) => this.authorizer.install(bundle),
      logger: logger.child({ component: 'policy-bundle' }),
    });
  }

  get ready(): boolean {
    return this.authorizer.ready;
  }

  start(): void {
    this.client.start();
    this.shipper?.start();
  }

  async stop(): Promise<void> {
    await this.client.stop();
    await this.shipper?.stop();
  }

  /** For /config_dump (`bowline.extra.policy`). */
  describe(): Record<string, unknown> {
    return {
      ready: this.ready,
      bundle: this.client.status(),
      enforcing: this.authorizer.status(),
      decisionLogs: this.shipper?.status() ?? 'off',
    };
  }
}
