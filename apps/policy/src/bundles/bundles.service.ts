import { createHash } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { SERVICE_CONFIG } from '#libs/host';
import { type CompiledAuthzModule, IstioAuthzCompiler } from '../authorization/istio-authz.compiler';
import { type NormalPolicy, normalisePolicy } from '../authorization/normalise';
import { AuthorizationPolicySet } from '../authorization/policy-set';
import type { PolicyConfig } from '../config';
import { PolicyError } from '../errors';
import { PolicyRevision } from '../policies/policy-revision.entity';
import { type AuthzBundle, BUNDLE_FORMAT, type RegoBundlePart } from './bundle-format';
import { BundleNotReady } from './errors';
import { policiesFor } from './workload-selection';

const COMPILE_RETRY_MIN_MS = 1_000;
const COMPILE_RETRY_MAX_MS = 30_000;
/** How often a long poll re-checks what the AuthorizationPolicy set cannot signal (policy activations). */
const RECHECK_MS = 1_000;
const MAX_CACHED_REVISIONS = 32;

/** What a proxy asks for: its namespace, optionally its workload's labels and a Rego policy. */
export interface BundleRequest {
  namespace: string;
  /** The workload's labels: only the policies whose selector matches them are compiled. Absent: all of the namespace's. */
  labels?: Readonly<Record<string, string>>;
  policy?: string;
}

interface NormalisedSet {
  version: number;
  policies: NormalPolicy[];
}

/**
 * Builds the bundles proxies enforce (see bundle-format.ts): the Istio AuthorizationPolicy
 * module generated for the policies of the proxy's namespace, or only those selecting its
 * workload when the proxy sends its labels (compiled by IstioAuthzCompiler,
 * shared with AuthorizationEngine, so each distinct set compiles once), from the set as Galley
 * last reported it, and active Rego revisions.
 */
@Injectable()
export class BundlesService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Bundles');
  private set!: AuthorizationPolicySet;
  private compiler!: IstioAuthzCompiler;
  /** The compiler has produced a module (it was checked at bootstrap with the empty set). */
  private compiled = false;
  private compileError: string | null = null;
  private normalised?: NormalisedSet;
  private readonly revisions = new Map<string, Promise<RevisionModule>>();
  private readonly waiters = new Set<() => void>();
  private retry?: NodeJS.Timeout;
  private retryMs = COMPILE_RETRY_MIN_MS;
  private stopped = false;

  constructor(
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: PolicyConfig,
  ) {}

  /** The AuthorizationPolicy set and the module compiler are AuthorizationModule's (one Galley watch per process). */
  onModuleInit(): void {
    this.set = this.moduleRef.get(AuthorizationPolicySet, { strict: false });
    this.compiler = this.moduleRef.get(IstioAuthzCompiler, { strict: false });
    this.set.onChange(() => {
      this.normalised = undefined;
      this.wake();
    });
  }

  onApplicationBootstrap(): void {
    void this.compile();
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.wake();
  }

  /** The bundle for `request`. Throws BundleNotReady, POLICY_NOT_FOUND or POLICY_NOT_ACTIVE. */
  async bundle(request: BundleRequest): Promise<AuthzBundle> {
    const set = this.normalisedSet();
    const policies = policiesFor(set.policies, request.namespace, request.labels);
    const labels = request.labels ? { ...request.labels } : null;
    const istio = await this.istioModule(policies, labels === null);
    const policy = request.policy === undefined ? null : await this.activeRevision(request.policy);
    const revision = bundleRevision(request.namespace, labels, istio, policy);
    return {
      format: BUNDLE_FORMAT,
      revision,
      namespace: request.namespace,
      labels,
      generatedAt: new Date().toISOString(),
      istio: {
        entrypoint: istio.entrypoint,
        wasm: istio.wasm.toString('base64'),
        wasmSha256: istio.wasmSha256,
        data: {},
        headers: istio.headers,
        attributes: istio.attributes,
        outcomes: istio.outcomes,
        matchers: istio.matchers,
        version: set.version,
        policies: policies.map((p) => p.id),
      },
      policy,
    };
  }

  /**
   * The bundle once its revision differs from `knownRevision`, or null when `waitMs` passed
   * without a change (a long poll). Errors are thrown at once, as `bundle` throws them.
   */
  async bundleWhenChanged(request: BundleRequest, knownRevision: string, waitMs: number): Promise<AuthzBundle | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const current = await this.bundle(request);
      if (current.revision !== knownRevision) return current;
      const left = deadline - Date.now();
      if (left <= 0 || this.stopped) return null;
      await this.changeOrTimeout(Math.min(left, RECHECK_MS));
    }
  }

  /** What /v1/bundles/status reports. */
  get status() {
    return {
      compiled: this.compiled,
      compileError: this.compileError,
      galleySynced: this.set?.state.synced ?? false,
      galleyVersion: this.set?.state.version ?? null,
      waiting: this.waiters.size,
    };
  }

  /**
   * The compiled module of `policies`, with the compact decision; unscoped when they are the
   * policies selected for one workload's labels. BundleNotReady while it cannot be compiled
   * (proxies retry).
   */
  private async istioModule(policies: NormalPolicy[], scoped: boolean): Promise<CompiledAuthzModule> {
    try {
      const compiled = await this.compiler.compile(policies, { compact: true, scoped });
      this.compiled = true;
      return compiled;
    } catch (error) {
      this.compileError = error instanceof Error ? error.message : String(error);
      throw new BundleNotReady(`the Istio authorization module does not compile: ${this.compileError}`);
    }
  }

  /** The set normalised (as AuthorizationEngine does), cached until it changes. */
  private normalisedSet(): NormalisedSet {
    const state = this.set.state;
    if (!state.synced || state.version === null) {
      throw new BundleNotReady('no AuthorizationPolicy set has been received from Galley yet');
    }
    if (this.normalised?.version === state.version) return this.normalised;
    const policies: NormalPolicy[] = [];
    for (const resource of state.policies) {
      const normal = normalisePolicy(resource, this.config.rootNamespace);
      if (normal.policy) policies.push(normal.policy);
    }
    this.normalised = { version: state.version, policies };
    return this.normalised;
  }

  private async activeRevision(name: string): Promise<RegoBundlePart> {
    const rows = (await this.dataSource.query(
      `SELECT p.active_revision, r.id FROM policy_policies p
         LEFT JOIN policy_revisions r ON r.policy_id = p.id AND r.revision = p.active_revision
        WHERE p.name = $1`,
      [name],
    )) as { active_revision: number | null; id: string | null }[];
    const row = rows[0];
    if (!row) throw new PolicyError('POLICY_NOT_FOUND', `no policy named ${name}`);
    if (row.active_revision === null || row.id === null) {
      throw new PolicyError('POLICY_NOT_ACTIVE', `policy ${name} has no active revision`);
    }
    return { name, revision: row.active_revision, ...(await this.revisionModule(row.id)) };
  }

  /** A revision's wasm (base64), data, decision entrypoint and input parts; revisions are immutable, so cached. */
  private revisionModule(id: string): Promise<RevisionModule> {
    let loading = this.revisions.get(id);
    if (!loading) {
      loading = this.dataSource
        .getRepository(PolicyRevision)
        .findOneOrFail({ where: { id } })
        .then((r) => ({
          entrypoint: r.entrypoints[0],
          wasm: r.wasm.toString('base64'),
          wasmSha256: r.wasmSha256,
          data: r.data,
          ...(r.inputPaths === null ? {} : { inputPaths: r.inputPaths }),
        }));
      loading.catch(() => this.revisions.delete(id));
      this.revisions.set(id, loading);
      if (this.revisions.size > MAX_CACHED_REVISIONS) this.revisions.delete(this.revisions.keys().next().value!);
    }
    return loading;
  }

  /** Checks the compiler with the empty set, so `status` tells whether bundles can be served. */
  private async compile(): Promise<void> {
    try {
      const compiled = await this.compiler.compile([], { compact: true });
      this.compiled = true;
      this.compileError = null;
      this.logger.log({
        msg: 'Istio authorization modules compile for proxy bundles',
        opaVersion: compiled.opaVersion,
      });
      this.wake();
    } catch (error) {
      this.compileError = error instanceof Error ? error.message : String(error);
      this.logger.error({ msg: 'cannot compile the Istio authorization module; retrying', reason: this.compileError });
      if (this.stopped) return;
      this.retry = setTimeout(() => void this.compile(), this.retryMs);
      this.retryMs = Math.min(COMPILE_RETRY_MAX_MS, this.retryMs * 2);
    }
  }

  private changeOrTimeout(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** A policy revision as its bundle part carries it, without the policy's name and revision number. */
type RevisionModule = Omit<RegoBundlePart, 'name' | 'revision'>;

/** The bundle's ETag: what the proxy would load, hashed (never the generation time). */
function bundleRevision(
  namespace: string,
  labels: Record<string, string> | null,
  istio: CompiledAuthzModule,
  policy: RegoBundlePart | null,
): string {
  const hash = createHash('sha256');
  const described = JSON.stringify([labels, istio.headers, istio.attributes, istio.outcomes, istio.matchers]);
  hash.update(`${BUNDLE_FORMAT}\n${namespace}\n${istio.wasmSha256}\n${described}\n`);
  if (policy) {
    hash.update(`${policy.name}\n${policy.revision}\n${policy.wasmSha256}\n${JSON.stringify(policy.data)}`);
    hash.update(`\n${JSON.stringify(policy.inputPaths ?? null)}`);
  }
  return hash.digest('hex').slice(0, 32);
}
