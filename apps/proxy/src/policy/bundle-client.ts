import type { Logger } from '#libs/logging';
import { formatWorkloadLabels } from '#libs/policy-runtime';
import { type AuthzBundle, parseBundle } from './bundle';

/** The policy service answered something other than a bundle or 304. */
export class BundleFetchError extends Error {
  override readonly name = 'BundleFetchError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface BundleClientOptions {
  /** The policy service's admin base URL, e.g. `http://127.0.0.1:8084`. */
  readonly baseUrl: string;
  /** Bearer API token (viewer role at least). */
  readonly token?: string;
  /** The workload's namespace: the bundle holds the AuthorizationPolicies that can apply to it. */
  readonly namespace: string;
  /**
   * The workload's labels (those its decisions match selectors on): the bundle then holds only
   * the policies selecting this workload. Unset, or not all Kubernetes labels: the namespace's
   * whole set (the same decisions, a larger module).
   */
  readonly labels?: Readonly<Record<string, string>>;
  /** A Rego policy whose active revision the bundle includes. */
  readonly policy?: string;
  /**
   * Loads a bundle into the enforcer; a throw refuses it (the last good bundle stays and the
   * revision is fetched again after a backoff).
   */
  readonly install: (bundle: AuthzBundle) => Promise<void>;
  readonly logger: Logger;
  /** Long-poll: how long the service may hold an unchanged answer (default 30 s). */
  readonly waitMs?: number;
  /** Backoff after a failure: doubles from `minBackoffMs` (default 500 ms) to `maxBackoffMs` (default 30 s). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Shortest time between two polls, whatever the server does (default 1 s). */
  readonly minIntervalMs?: number;
  readonly fetch?: typeof fetch;
}

/** What /config_dump shows about the bundle. */
export interface BundleClientStatus {
  readonly url: string;
  /** The `labels` the bundle is asked for (null: not sent, the namespace's whole set). */
  readonly labels: string | null;
  readonly revision: string | null;
  readonly loadedAt: string | null;
  readonly lastCheckAt: string | null;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
}

/**
 * Follows the policy service's bundle for this proxy: long-polls `GET /v1/bundles/authz` with
 * `If-None-Match` (304 while unchanged), installs each new revision, and on any failure (the
 * service away, an error status, a bundle that does not parse or load) keeps the last good
 * bundle and retries with exponential backoff and jitter. It never drops a bundle.
 */
export class BundleClient {
  private revision: string | null = null;
  private loadedAt: Date | null = null;
  private lastCheckAt: Date | null = null;
  private failures = 0;
  private lastError: string | null = null;
  private stopped = true;
  private loop?: Promise<void>;
  private readonly abort = new AbortController();
  private wakeSleep?: () => void;
  private readonly firstLoad: Promise<void>;
  private resolveFirst!: () => void;

  /** The `labels` parameter, or null when not sent. */
  private readonly labels: string | null;

  constructor(private readonly options: BundleClientOptions) {
    this.labels = options.labels ? formatWorkloadLabels(options.labels) : null;
    if (options.labels && this.labels === null) {
      options.logger.warn(
        { labels: options.labels },
        "workload labels are not all Kubernetes labels: asking for the namespace's whole AuthorizationPolicy set",
      );
    }
    this.firstLoad = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  /** Starts following the bundle (in the background). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops polling; the installed bundle stays in use. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wakeSleep?.();
    await this.loop;
  }

  /** Resolves once a first bundle is installed. */
  loaded(): Promise<void> {
    return this.firstLoad;
  }

  status(): BundleClientStatus {
    return {
      url: this.options.baseUrl,
      labels: this.labels,
      revision: this.revision,
      loadedAt: this.loadedAt?.toISOString() ?? null,
      lastCheckAt: this.lastCheckAt?.toISOString() ?? null,
      consecutiveFailures: this.failures,
      lastError: this.lastError,
    };
  }

  /** One poll: true when a new bundle was installed, false on 304. Throws on any failure. */
  async pollOnce(): Promise<boolean> {
    const response = await this.request();
    this.lastCheckAt = new Date();
    if (response.status === 304) return false;
    if (response.status !== 200) throw new BundleFetchError(await failureMessage(response), response.status);
    const bundle = parseBundle(await response.json());
    if (bundle.revision === this.revision) return false;
    await this.options.install(bundle);
    const first = this.revision === null;
    this.revision = bundle.revision;
    this.loadedAt = new Date();
    this.options.logger.info(
      {
        revision: bundle.revision,
        authorizationPolicies: bundle.istio.policies,
        policy: bundle.policy ? `${bundle.policy.name}@${bundle.policy.revision}` : null,
      },
      first ? 'first authorization bundle loaded' : 'authorization bundle updated',
    );
    if (first) this.resolveFirst();
    return true;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      try {
        await this.pollOnce();
        this.recovered();
        await this.sleep((this.options.minIntervalMs ?? 1_000) - (Date.now() - started));
      } catch (error) {
        if (this.stopped) return;
        await this.sleep(this.failed(error));
      }
    }
  }

  private request(): Promise<Response> {
    const { baseUrl, namespace, policy, token } = this.options;
    const url = new URL('/v1/bundles/authz', baseUrl);
    url.searchParams.set('namespace', namespace);
    if (this.labels !== null) url.searchParams.set('labels', this.labels);
    if (policy) url.searchParams.set('policy', policy);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const waitMs = this.options.waitMs ?? 30_000;
    if (this.revision !== null) {
      headers['if-none-match'] = `"${this.revision}"`;
      if (waitMs > 0) url.searchParams.set('wait', `${Math.ceil(waitMs / 1000)}s`);
    }
    const timeout = AbortSignal.timeout(waitMs + 15_000);
    const signal = AbortSignal.any([this.abort.signal, timeout]);
    return (this.options.fetch ?? fetch)(url, { headers, signal });
  }

  private recovered(): void {
    if (this.failures > 0) this.options.logger.info({ after: this.failures }, 'policy service reachable again');
    this.failures = 0;
    this.lastError = null;
  }

  /** Records a failure; returns the backoff before the next try. */
  private failed(error: unknown): number {
    this.failures += 1;
    this.lastError = error instanceof Error ? error.message : String(error);
    const min = this.options.minBackoffMs ?? 500;
    const max = this.options.maxBackoffMs ?? 30_000;
    const backoff = Math.min(max, min * 2 ** Math.min(this.failures - 1, 16));
    const delay = Math.round(backoff * (0.5 + Math.random() / 2));
    const log = this.failures === 1 || this.failures % 10 === 0 ? 'warn' : 'debug';
    this.options.logger[log](
      { failures: this.failures, retryInMs: delay, reason: this.lastError, revision: this.revision },
      this.revision === null
        ? 'no authorization bundle yet (failing closed); retrying'
        : 'cannot refresh the authorization bundle; the last good one stays in use',
    );
    return delay;
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSleep = done;
    });
  }
}

/** The problem+json `detail` (or the status line) of a failed answer. */
async function failureMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  let detail = text.slice(0, 300);
  try {
    const body = JSON.parse(text) as { detail?: unknown; title?: unknown };
    if (typeof body.detail === 'string') detail = body.detail;
    else if (typeof body.title === 'string') detail = body.title;
  } catch {
    // not JSON: the text as is
  }
  return `policy service answered ${response.status}${detail ? `: ${detail}` : ''}`;
}
