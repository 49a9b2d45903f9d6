/**
 * AuthorizationPolicy → the normal form `generateIstioAuthz` turns into Rego (and the reference
 * module `ISTIO_AUTHZ_REGO` interprets as data). Every from/to/when field becomes
 * a condition on one request attribute; anything Bowline cannot evaluate is a finding, and the
 * rule that holds it fails closed (never matches for ALLOW/AUDIT/CUSTOM, always for DENY).
 */

/** One AuthorizationPolicy as Galley serves it. */
export interface AuthorizationPolicyResource {
  namespace: string;
  name: string;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
  resourceVersion: number;
}

export type Action = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export interface Matcher {
  kind: 'exact' | 'prefix' | 'suffix' | 'presence' | 'cidr';
  value: string;
}

export interface Condition {
  attr: string;
  /** Header name (lower-cased) or claim path. */
  param: string[];
  values: Matcher[];
  negate: boolean;
}

export interface NormalRule {
  from: Condition[][];
  to: Condition[][];
  when: Condition[];
  /** `match` / `never`: the rule holds something unsupported and fails closed. */
  force: '' | 'match' | 'never';
}

export interface NormalPolicy {
  id: string;
  namespace: string;
  name: string;
  action: Action;
  provider: string | null;
  dryRun: boolean;
  /** Root-namespace policy: applies in every namespace. */
  mesh: boolean;
  selector: Record<string, string>;
  rules: NormalRule[];
}

/** Something in a policy Bowline does not evaluate, and what it does instead. */
export interface Finding {
  policy: string;
  path: string;
  message: string;
  effect: string;
}

const SOURCE_FIELDS: Record<string, { attr: string; negate: boolean; cidr?: boolean }> = {
  principals: { attr: 'source.principal', negate: false },
  notPrincipals: { attr: 'source.principal', negate: true },
  requestPrincipals: { attr: 'request.auth.principal', negate: false },
  notRequestPrincipals: { attr: 'request.auth.principal', negate: true },
  namespaces: { attr: 'source.namespace', negate: false },
  notNamespaces: { attr: 'source.namespace', negate: true },
  ipBlocks: { attr: 'source.ip', negate: false, cidr: true },
  notIpBlocks: { attr: 'source.ip', negate: true, cidr: true },
  remoteIpBlocks: { attr: 'remote.ip', negate: false, cidr: true },
  notRemoteIpBlocks: { attr: 'remote.ip', negate: true, cidr: true },
};

const OPERATION_FIELDS: Record<string, { attr: string; negate: boolean; lower?: boolean }> = {
  hosts: { attr: 'request.host', negate: false, lower: true },
  notHosts: { attr: 'request.host', negate: true, lower: true },
  ports: { attr: 'destination.port', negate: false },
  notPorts: { attr: 'destination.port', negate: true },
  methods: { attr: 'request.method', negate: false },
  notMethods: { attr: 'request.method', negate: true },
  paths: { attr: 'request.path', negate: false },
  notPaths: { attr: 'request.path', negate: true },
};

const CIDR_KEYS = new Set(['source.ip', 'remote.ip', 'destination.ip']);
const PLAIN_KEYS = new Set([
  ...CIDR_KEYS,
  'source.namespace',
  'source.principal',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.port',
  'connection.sni',
]);
const ACTIONS: readonly string[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];

type Report = (path: string, message: string) => void;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** Istio's string match: `*` presence, `abc*` prefix, `*abc` suffix, otherwise exact. */
export function stringMatcher(raw: string, lower = false): Matcher | string {
  const value = lower ? raw.toLowerCase() : raw;
  if (/\p{Surrogate}/u.test(value)) return `"${raw}": is not valid Unicode text`;
  if (value === '*') return { kind: 'presence', value: '' };
  const inner = value.slice(1, -1);
  if (inner.includes('*') || (value.length > 1 && value.startsWith('*') && value.endsWith('*')))
    return `"${raw}": "*" is only supported at the start or the end`;
  if (value.startsWith('*')) return { kind: 'suffix', value: value.slice(1) };
  if (value.endsWith('*')) return { kind: 'prefix', value: value.slice(0, -1) };
  if (value.includes('{') && value.includes('}')) return `"${raw}": path templates are not supported`;
  return { kind: 'exact', value };
}

/** An IP address or CIDR block as a CIDR block (`10.1.2.3` → `10.1.2.3/32`). */
export function cidrMatcher(raw: string): Matcher | string {
  const [address, bits, extra] = raw.split('/');
  const v4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(address) && address.split('.').every((octet) => Number(octet) <= 255);
  const v6 = !v4 && address.includes(':') && /^[0-9a-fA-F:.]+$/.test(address);
  const max = v4 ? 32 : 128;
  if ((!v4 && !v6) || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
    return `"${raw}" is not an IP address or CIDR block`;
  }
  return { kind: 'cidr', value: bits === undefined ? `${address}/${max}` : raw };
}

function condition(
  attr: string,
  param: string[],
  raw: unknown,
  negate: boolean,
  kind: { cidr?: boolean; lower?: boolean },
  path: string,
  report: Report,
): Condition {
  const values: Matcher[] = [];
  list(raw).forEach((value, i) => {
    const matcher =
      typeof value !== 'string'
        ? 'must be a string'
        : kind.cidr
          ? cidrMatcher(value)
          : stringMatcher(value, kind.lower);
    if (typeof matcher === 'string') report(`${path}[${i}]`, matcher);
    else values.push(matcher);
  });
  return { attr, param, values, negate };
}

function fields(
  object: Record<string, unknown>,
  known: Record<string, { attr: string; negate: boolean; cidr?: boolean; lower?: boolean }>,
  path: string,
  report: Report,
): Condition[] {
  const conditions: Condition[] = [];
  for (const [field, value] of Object.entries(object)) {
    const spec = known[field];
    if (!spec) report(`${path}.${field}`, `field "${field}" is not supported`);
    else conditions.push(condition(spec.attr, [], value, spec.negate, spec, `${path}.${field}`, report));
  }
  return conditions;
}

/** A `when` key as `{attr, param}`; undefined when Bowline does not evaluate it. */
export function conditionKey(key: string): { attr: string; param: string[]; cidr: boolean } | undefined {
  if (PLAIN_KEYS.has(key)) return { attr: key, param: [], cidr: CIDR_KEYS.has(key) };
  const header = /^request\.headers\[([^\]]+)\]$/.exec(key);
  if (header) return { attr: 'request.headers', param: [header[1].toLowerCase()], cidr: false };
  const claims = /^request\.auth\.claims((?:\[[^\]]+\])+)$/.exec(key);
  if (claims) {
    const path = [...claims[1].matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]);
    return { attr: 'request.auth.claims', param: path, cidr: false };
  }
  return undefined;
}

function rule(raw: unknown, path: string, action: Action, report: Report): NormalRule {
  let unsupported = false;
  const note: Report = (where, message) => {
    unsupported = true;
    report(where, message);
  };
  const input = isRecord(raw) ? raw : {};
  for (const field of Object.keys(input)) {
    if (!['from', 'to', 'when'].includes(field)) note(`${path}.${field}`, `field "${field}" is not supported`);
  }
  const clauses = (field: 'from' | 'to', wrapper: string, known: typeof SOURCE_FIELDS) =>
    list(input[field]).map((item, i) => {
      const where = `${path}.${field}[${i}]`;
      const body = isRecord(item) ? item : {};
      const inner = body[wrapper];
      for (const extra of Object.keys(body)) if (extra !== wrapper) note(`${where}.${extra}`, 'is not supported');
      return fields(isRecord(inner) ? inner : {}, known, `${where}.${wrapper}`, note);
    });
  const when = list(input.when).flatMap((item, i) => {
    const where = `${path}.when[${i}]`;
    const body = isRecord(item) ? item : {};
    const key = typeof body.key === 'string' ? conditionKey(body.key) : undefined;
    if (!key) {
      note(`${where}.key`, `condition key ${JSON.stringify(body.key)} is not supported`);
      return [];
    }
    const out: Condition[] = [];
    if (body.values !== undefined) out.push(condition(key.attr, key.param, body.values, false, key, where, note));
    if (body.notValues !== undefined) out.push(condition(key.attr, key.param, body.notValues, true, key, where, note));
    return out;
  });
  const from = clauses('from', 'source', SOURCE_FIELDS);
  const to = clauses('to', 'operation', OPERATION_FIELDS);
  const force = unsupported ? (action === 'DENY' ? 'match' : 'never') : '';
  return { from, to, when, force };
}

/**
 * One policy as data for the Rego module, with findings for what it holds that Bowline does
 * not evaluate. Returns `null` for a policy that does not apply to sidecar workloads
 * (`targetRef(s)`: gateways and waypoints), reported as a finding.
 */
export function normalisePolicy(
  resource: AuthorizationPolicyResource,
  rootNamespace: string,
): { policy: NormalPolicy | null; findings: Finding[] } {
  const id = `${resource.namespace}/${resource.name}`;
  const findings: Finding[] = [];
  const spec = resource.spec;
  const action = (typeof spec.action === 'string' && ACTIONS.includes(spec.action) ? spec.action : 'ALLOW') as Action;
  const effect =
    action === 'DENY'
      ? 'the rule always matches (fail closed)'
      : `the rule never matches (fail closed${action === 'ALLOW' ? ': it allows nothing' : ''})`;
  const report: Report = (path, message) => findings.push({ policy: id, path, message, effect });
  if (spec.targetRef !== undefined || spec.targetRefs !== undefined) {
    findings.push({
      policy: id,
      path: spec.targetRef !== undefined ? 'spec.targetRef' : 'spec.targetRefs',
      message: 'targetRef(s) select gateways or waypoints, which Bowline does not evaluate',
      effect: 'the policy applies to no sidecar workload',
    });
    return { policy: null, findings };
  }
  const selector = isRecord(spec.selector) && isRecord(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
  const rules = list(spec.rules).map((raw, i) => rule(raw, `spec.rules[${i}]`, action, report));
  const provider = isRecord(spec.provider) && typeof spec.provider.name === 'string' ? spec.provider.name : null;
  if (action === 'CUSTOM') {
    findings.push({
      policy: id,
      path: 'spec.action',
      message: `CUSTOM delegates to the extension provider ${JSON.stringify(provider)}, which Bowline does not call`,
      effect: 'matches are reported in the decision (`custom`), not enforced',
    });
  }
  return {
    policy: {
      id,
      namespace: resource.namespace,
      name: resource.name,
      action,
      provider,
      dryRun: resource.annotations['istio.io/dry-run'] === 'true',
      mesh: resource.namespace === rootNamespace,
      selector: Object.fromEntries(
        Object.entries(selector).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      ),
      rules,
    },
    findings,
  };
}
