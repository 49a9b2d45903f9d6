import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { IstioMatchers, IstioOutcome } from '#libs/policy-runtime';
import { POLICY_COMPILER, type PolicyCompiler } from '../compiler/policy-compiler';
import { type AuthzCodegenOptions, generateIstioAuthz } from './istio-authz.codegen';
import type { NormalPolicy } from './normalise';

/**
 * Compiled modules kept: the whole set's, and one per distinct part that proxies ask bundles for
 * (a namespace's, or the policies selecting one kind of workload). Long polls re-read theirs
 * every second, so this must hold every part in use.
 */
const MAX_CACHED_MODULES = 256;

/** One policy set's generated module, compiled to wasm. */
export interface CompiledAuthzModule {
  wasm: Buffer;
  wasmSha256: string;
  entrypoint: string;
  /** The request headers and attributes the module reads, and its outcome table (see GeneratedAuthzModule). */
  headers: string[];
  attributes: string[];
  outcomes: IstioOutcome[];
  matchers: IstioMatchers;
  opaVersion: string;
  capabilitiesSha256: string;
}

/**
 * Compiles the module `generateIstioAuthz` makes for a policy set with the service's compiler
 * (the OPA CLI, same capabilities as user policies). Modules are cached by their source, so
 * AuthorizationEngine (the whole set) and BundlesService (a namespace's part, for every proxy
 * of the namespace) compile a set once; concurrent requests for one source share a compile.
 * A failed compile is not cached.
 */
@Injectable()
export class IstioAuthzCompiler {
  private readonly modules = new Map<string, Promise<CompiledAuthzModule>>();

  constructor(@Inject(POLICY_COMPILER) private readonly compiler: PolicyCompiler) {}

  compile(policies: NormalPolicy[], options: AuthzCodegenOptions = {}): Promise<CompiledAuthzModule> {
    const generated = generateIstioAuthz(policies, options);
    const key = createHash('sha256').update(generated.rego).digest('hex');
    const cached = this.modules.get(key);
    if (cached) {
      // Most recently used last: the first key is the one to evict.
      this.modules.delete(key);
      this.modules.set(key, cached);
      return cached;
    }
    const compiling = this.compiler
      .compile({ modules: { 'istio_authz.rego': generated.rego }, entrypoints: [generated.entrypoint], optimize: true })
      .then((compiled) => ({
        wasm: compiled.wasm,
        wasmSha256: createHash('sha256').update(compiled.wasm).digest('hex'),
        entrypoint: generated.entrypoint,
        headers: generated.headers,
        attributes: generated.attributes,
        outcomes: generated.outcomes,
        matchers: generated.matchers,
        opaVersion: compiled.opaVersion,
        capabilitiesSha256: compiled.capabilitiesSha256,
      }));
    compiling.catch(() => this.modules.delete(key));
    this.modules.set(key, compiling);
    if (this.modules.size > MAX_CACHED_MODULES) this.modules.delete(this.modules.keys().next().value!);
    return compiling;
  }
}
