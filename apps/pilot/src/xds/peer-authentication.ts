import type { ConfigResource } from '../registry/config-store';
import { selects } from '../registry/hosts';

/** A PeerAuthentication mode in effect (UNSET resolves to its parent's). */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

/** The mTLS modes a workload accepts connections under: one for all ports, and port-level ones. */
export interface EffectivePeerAuthentication {
  readonly mode: MtlsMode;
  /** By workload port (`portLevelMtls` of the workload's selector policy). */
  readonly ports: ReadonlyMap<number, MtlsMode>;
}

/** The workload a PeerAuthentication may select. */
export interface Workload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

interface PeerAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  mtls?: { mode?: string };
  portLevelMtls?: Record<string, { mode?: string } | undefined>;
}

/** Istio's default when no policy says otherwise. */
const DEFAULT_MODE: MtlsMode = 'PERMISSIVE';

/**
 * The mTLS modes of a workload, as Istio composes PeerAuthentications: the mesh-wide policy (no
 * selector, in the root namespace), then the namespace-wide policy (no selector, in the
 * workload's namespace), then a policy of that namespace whose selector selects the workload
 * (selector policies in the root namespace are ignored), each overriding the one before unless
 * its mode is UNSET; PERMISSIVE when none sets one. `portLevelMtls` is taken from the selector
 * policy only, an UNSET port inheriting the workload's mode. When several policies compete for a
 * level, the first by name wins (Istio takes the oldest).
 */
export function effectivePeerAuthentication(
  policies: readonly ConfigResource[],
  rootNamespace: string,
  workload: Workload,
): EffectivePeerAuthentication {
  const levels = policyLevels(policies, rootNamespace, workload);
  let mode = DEFAULT_MODE;
  for (const spec of [levels.mesh, levels.namespace, levels.workload]) mode = modeOf(spec?.mtls?.mode) ?? mode;
  const ports = new Map<number, MtlsMode>();
  for (const [key, setting] of Object.entries(levels.workload?.portLevelMtls ?? {})) {
    const port = Number(key);
    if (Number.isInteger(port) && port > 0 && port < 65536) ports.set(port, modeOf(setting?.mode) ?? mode);
  }
  return { mode, ports };
}

/**
 * The mode of a namespace's workloads as far as mesh-wide and namespace-wide policies tell (what
 * Istio's auto mTLS infers about a destination service).
 */
export function namespaceMtlsMode(
  policies: readonly ConfigResource[],
  rootNamespace: string,
  namespace: string,
): MtlsMode {
  const levels = policyLevels(policies, rootNamespace, { namespace, labels: {} });
  let mode = DEFAULT_MODE;
  for (const spec of [levels.mesh, levels.namespace]) mode = modeOf(spec?.mtls?.mode) ?? mode;
  return mode;
}

interface PolicyLevels {
  mesh?: PeerAuthenticationSpec;
  namespace?: PeerAuthenticationSpec;
  workload?: PeerAuthenticationSpec;
}

function policyLevels(policies: readonly ConfigResource[], rootNamespace: string, workload: Workload): PolicyLevels {
  const levels: PolicyLevels = {};
  for (const policy of policies) {
    if (policy.kind !== 'PeerAuthentication') continue;
    const spec = policy.spec as PeerAuthenticationSpec;
    const selector = spec.selector?.matchLabels ?? {};
    if (Object.keys(selector).length === 0) {
      if (policy.namespace === rootNamespace) levels.mesh ??= spec;
      else if (policy.namespace === workload.namespace) levels.namespace ??= spec;
    } else if (policy.namespace === workload.namespace && policy.namespace !== rootNamespace) {
      if (selects(selector, { ...workload.labels })) levels.workload ??= spec;
    }
  }
  return levels;
}

function modeOf(mode: string | undefined): MtlsMode | undefined {
  return mode === 'STRICT' || mode === 'PERMISSIVE' || mode === 'DISABLE' ? mode : undefined;
}
