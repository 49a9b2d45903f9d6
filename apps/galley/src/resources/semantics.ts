import type { Kind } from './kinds';
import { isIpOrCidr, isPrincipal, dnsLabelProblem, labelKeyProblem, labelValueProblem } from './names';
import { asList, asRecord, asString, type PathSegments } from './paths';

/** Reports one problem at a path inside the document. */
export type Report = (path: PathSegments, message: string) => void;

/**
 * Rules JSON Schema cannot express, per kind, following Istio's validation (weights that add
 * up to 100, principal formats, mutually exclusive fields). Runs on schema-valid documents.
 */
export function checkSemantics(kind: Kind, spec: Record<string, unknown>, report: Report): void {
  CHECKS[kind](spec, (path, message) => report(['spec', ...path], message));
}

const CHECKS: Record<Kind, (spec: Record<string, unknown>, report: Report) => void> = {
  VirtualService: checkVirtualService,
  DestinationRule: checkDestinationRule,
  ServiceEntry: checkServiceEntry,
  WorkloadEntry: checkWorkloadEntry,
  Gateway: checkGateway,
  PeerAuthentication: checkPeerAuthentication,
  AuthorizationPolicy: checkAuthorizationPolicy,
  RequestAuthentication: checkRequestAuthentication,
};

function checkWeights(routes: unknown[], path: PathSegments, report: Report): void {
  if (routes.length < 2) return;
  const total = routes.reduce<number>((sum, route) => sum + Number(asRecord(route).weight ?? 0), 0);
  if (total !== 100) report(path, `weights of the destinations must add up to 100 (they add up to ${total})`);
}

function checkVirtualService(spec: Record<string, unknown>, report: Report): void {
  asList(spec.hosts).forEach((host, i) => {
    if (host === '') report(['hosts', i], 'must not be empty');
  });
  asList(spec.http).forEach((item, i) => {
    const route = asRecord(item);
    const actions = ['route', 'redirect', 'directResponse', 'delegate'].filter((key) => route[key] !== undefined);
    if (actions.length === 0) report(['http', i], 'needs one of route, redirect, directResponse or delegate');
    if (route.route !== undefined && (route.redirect !== undefined || route.directResponse !== undefined)) {
      report(['http', i], 'route cannot be combined with redirect or directResponse');
    }
    checkWeights(asList(route.route), ['http', i, 'route'], report);
  });
  for (const section of ['tls', 'tcp'] as const) {
    asList(spec[section]).forEach((item, i) => {
      const routes = asList(asRecord(item).route);
      if (routes.length === 0) report([section, i, 'route'], 'must name at least one destination');
      checkWeights(routes, [section, i, 'route'], report);
    });
  }
}

function checkDestinationRule(spec: Record<string, unknown>, report: Report): void {
  if (spec.host === '') report(['host'], 'must not be empty');
  const seen = new Map<string, number>();
  asList(spec.subsets).forEach((item, i) => {
    const name = asString(asRecord(item).name);
    if (name === undefined) return;
    const problem = dnsLabelProblem(name);
    if (problem) report(['subsets', i, 'name'], problem);
    if (seen.has(name)) report(['subsets', i, 'name'], `duplicate subset "${name}" (also subsets[${seen.get(name)}])`);
    seen.set(name, i);
    checkLabels(asRecord(asRecord(item).labels), ['subsets', i, 'labels'], report);
  });
}

function checkServiceEntry(spec: Record<string, unknown>, report: Report): void {
  asList(spec.hosts).forEach((host, i) => {
    if (host === '') report(['hosts', i], 'must not be empty');
  });
  const numbers = new Map<number, number>();
  asList(spec.ports).forEach((item, i) => {
    const number = asRecord(item).number;
    if (typeof number !== 'number') return;
    if (numbers.has(number))
      report(['ports', i, 'number'], `duplicate port ${number} (also ports[${numbers.get(number)}])`);
    numbers.set(number, i);
  });
  if (spec.endpoints !== undefined && spec.workloadSelector !== undefined) {
    report(['workloadSelector'], 'only one of endpoints and workloadSelector may be set');
  }
  if (spec.resolution === 'STATIC') {
    asList(spec.endpoints).forEach((endpoint, i) => {
      if (!asString(asRecord(endpoint).address))
        report(['endpoints', i, 'address'], 'is required with resolution STATIC');
    });
  }
  asList(spec.addresses).forEach((address, i) => {
    if (typeof address === 'string' && !isIpOrCidr(address))
      report(['addresses', i], 'must be an IP address or CIDR block');
  });
}

function checkWorkloadEntry(spec: Record<string, unknown>, report: Report): void {
  if (!asString(spec.address) && !asString(spec.network)) {
    report(['address'], 'is required (unless network is set)');
  }
  checkLabels(asRecord(spec.labels), ['labels'], report);
}

function checkGateway(spec: Record<string, unknown>, report: Report): void {
  asList(spec.servers).forEach((item, i) => {
    const server = asRecord(item);
    const protocol = asString(asRecord(server.port).protocol);
    const tls = asRecord(server.tls);
    if ((protocol === 'HTTPS' || protocol === 'TLS') && server.tls === undefined) {
      report(['servers', i, 'tls'], `is required for protocol ${protocol}`);
    }
    if ((tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL') && !tls.credentialName && !tls.credentialNames) {
      if (!tls.serverCertificate || !tls.privateKey) {
        report(['servers', i, 'tls'], `mode ${tls.mode} needs credentialName, or serverCertificate and privateKey`);
      }
    }
  });
}

function checkPeerAuthentication(spec: Record<string, unknown>, report: Report): void {
  if (spec.portLevelMtls !== undefined && Object.keys(asRecord(asRecord(spec.selector).matchLabels)).length === 0) {
    report(['portLevelMtls'], 'needs a workload selector (selector.matchLabels)');
  }
}

const CONDITION_KEYS = [
  /^request\.headers\[[^\]]+\]$/,
  /^source\.(ip|namespace|principal)$/,
  /^remote\.ip$/,
  /^request\.auth\.(principal|audiences|presenter)$/,
  /^request\.auth\.claims\[[^\]]+\](\[[^\]]+\])*$/,
  /^destination\.(ip|port)$/,
  /^connection\.sni$/,
  /^experimental\.envoy\.filters\..+$/,
];

function checkAuthorizationPolicy(spec: Record<string, unknown>, report: Report): void {
  if (spec.action === 'CUSTOM' && spec.provider === undefined) report(['provider'], 'is required with action CUSTOM');
  if (spec.provider !== undefined && spec.action !== 'CUSTOM')
    report(['provider'], 'is only allowed with action CUSTOM');
  if (spec.selector !== undefined && (spec.targetRef !== undefined || spec.targetRefs !== undefined)) {
    report(['targetRef'], 'only one of selector and targetRef(s) may be set');
  }
  asList(spec.rules).forEach((item, r) => {
    const rule = asRecord(item);
    asList(rule.from).forEach((from, f) => {
      const source = asRecord(asRecord(from).source);
      const base = ['rules', r, 'from', f, 'source'];
      for (const field of ['principals', 'notPrincipals']) {
        asList(source[field]).forEach((value, i) => {
          if (typeof value === 'string' && !isPrincipal(value)) {
            report([...base, field, i], 'must be "*" or <trust-domain>/ns/<ns>/sa/<sa>');
          }
        });
      }
      for (const field of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks']) {
        asList(source[field]).forEach((value, i) => {
          if (typeof value === 'string' && !isIpOrCidr(value))
            report([...base, field, i], 'must be an IP address or CIDR block');
        });
      }
      if (Object.keys(source).length === 0) report(base, 'must set at least one field');
    });
    asList(rule.to).forEach((to, t) => {
      const operation = asRecord(asRecord(to).operation);
      for (const field of ['ports', 'notPorts']) {
        asList(operation[field]).forEach((value, i) => {
          const n = Number(value);
          if (!/^\d+$/.test(String(value)) || n < 1 || n > 65535) {
            report(['rules', r, 'to', t, 'operation', field, i], 'must be a port number between 1 and 65535');
          }
        });
      }
      if (Object.keys(operation).length === 0)
        report(['rules', r, 'to', t, 'operation'], 'must set at least one field');
    });
    asList(rule.when).forEach((item, w) => {
      const condition = asRecord(item);
      const key = asString(condition.key);
      if (key !== undefined && !CONDITION_KEYS.some((pattern) => pattern.test(key))) {
        report(['rules', r, 'when', w, 'key'], `unknown condition key "${key}"`);
      }
      if (condition.values === undefined && condition.notValues === undefined) {
        report(['rules', r, 'when', w], 'needs values or notValues');
      }
    });
  });
}

function checkRequestAuthentication(spec: Record<string, unknown>, report: Report): void {
  asList(spec.jwtRules).forEach((item, i) => {
    const rule = asRecord(item);
    if (rule.issuer === '') report(['jwtRules', i, 'issuer'], 'must not be empty');
    const uri = asString(rule.jwksUri);
    if (uri !== undefined && !/^https?:\/\/[^\s]+$/.test(uri))
      report(['jwtRules', i, 'jwksUri'], 'must be an http(s) URL');
    if (uri !== undefined && rule.jwks !== undefined)
      report(['jwtRules', i, 'jwks'], 'only one of jwks and jwksUri may be set');
  });
}

/** Label keys and values under `path` follow Kubernetes' rules. */
export function checkLabels(labels: Record<string, unknown>, path: PathSegments, report: Report): void {
  for (const [key, value] of Object.entries(labels)) {
    const problem = labelKeyProblem(key) ?? (typeof value === 'string' ? labelValueProblem(value) : undefined);
    if (problem) report([...path, key], problem);
  }
}
