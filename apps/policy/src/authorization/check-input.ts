import { isIP } from 'node:net';
import { BowlineError, type FieldProblem, Kinds } from '#libs/errors';
import { buildInput, InputError, normaliseRequestPath, socketAddress, workloadIdentity } from '#libs/policy-runtime';

/** A validated `POST /v1/authorization/check` body. */
export interface AuthorizationCheck {
  source: { principal?: string; namespace?: string; ip?: string; remoteIp?: string };
  destination: { namespace: string; labels: Record<string, string>; port?: number; ip?: string; principal?: string };
  request: {
    method: string;
    path: string;
    host?: string;
    headers: Record<string, string>;
    auth?: { principal?: string; audiences?: string[]; presenter?: string; claims?: Record<string, unknown> };
  };
  connection: { sni?: string };
}

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);

class Reader {
  readonly problems: FieldProblem[] = [];

  object(value: unknown, path: string, known: string[], required = false): Obj {
    if (value === undefined && !required) return {};
    if (!isObj(value)) {
      this.problems.push({ path, message: 'must be an object' });
      return {};
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) this.problems.push({ path: `${path}.${key}`, message: 'unknown field' });
    }
    return value;
  }

  string(value: unknown, path: string, required = false): string | undefined {
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string' || value === '') {
      this.problems.push({ path, message: required ? 'required: a non-empty string' : 'must be a non-empty string' });
      return undefined;
    }
    return value;
  }

  ip(value: unknown, path: string): string | undefined {
    const ip = this.string(value, path);
    if (ip !== undefined && isIP(ip) === 0) this.problems.push({ path, message: 'must be an IP address' });
    return ip;
  }

  strings(value: unknown, path: string): Record<string, string> {
    if (value === undefined) return {};
    if (!isObj(value) || Object.values(value).some((v) => typeof v !== 'string')) {
      this.problems.push({ path, message: 'must be an object of strings' });
      return {};
    }
    return value as Record<string, string>;
  }
}

/** Validates the check body; every problem names its field. */
export function parseAuthorizationCheck(body: unknown): AuthorizationCheck {
  const r = new Reader();
  const top = r.object(body, 'body', ['source', 'destination', 'request', 'connection'], true);
  const source = r.object(top.source, 'source', ['principal', 'namespace', 'ip', 'remoteIp']);
  const destination = r.object(
    top.destination,
    'destination',
    ['namespace', 'labels', 'port', 'ip', 'principal'],
    true,
  );
  const request = r.object(top.request, 'request', ['method', 'path', 'host', 'headers', 'auth'], true);
  const auth = r.object(request.auth, 'request.auth', ['principal', 'audiences', 'presenter', 'claims']);
  const connection = r.object(top.connection, 'connection', ['sni']);
  const port = destination.port;
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)) {
    r.problems.push({ path: 'destination.port', message: 'must be a port number (1-65535)' });
  }
  const path = r.string(request.path, 'request.path', true);
  if (path !== undefined && !path.startsWith('/'))
    r.problems.push({ path: 'request.path', message: 'must start with /' });
  const audiences = auth.audiences;
  if (audiences !== undefined && (!Array.isArray(audiences) || audiences.some((a) => typeof a !== 'string'))) {
    r.problems.push({ path: 'request.auth.audiences', message: 'must be an array of strings' });
  }
  if (auth.claims !== undefined && !isObj(auth.claims)) {
    r.problems.push({ path: 'request.auth.claims', message: 'must be an object' });
  }
  const check: AuthorizationCheck = {
    source: {
      principal: r.string(source.principal, 'source.principal'),
      namespace: r.string(source.namespace, 'source.namespace'),
      ip: r.ip(source.ip, 'source.ip'),
      remoteIp: r.ip(source.remoteIp, 'source.remoteIp'),
    },
    destination: {
      namespace: r.string(destination.namespace, 'destination.namespace', true) ?? '',
      labels: r.strings(destination.labels, 'destination.labels'),
      port: typeof port === 'number' ? port : undefined,
      ip: r.ip(destination.ip, 'destination.ip'),
      principal: r.string(destination.principal, 'destination.principal'),
    },
    request: {
      method: r.string(request.method, 'request.method', true) ?? '',
      path: path ?? '/',
      host: r.string(request.host, 'request.host'),
      headers: r.strings(request.headers, 'request.headers'),
      ...(request.auth !== undefined
        ? {
            auth: {
              principal: r.string(auth.principal, 'request.auth.principal'),
              audiences: audiences as string[] | undefined,
              presenter: r.string(auth.presenter, 'request.auth.presenter'),
              claims: auth.claims as Record<string, unknown> | undefined,
            },
          }
        : {}),
    },
    connection: { sni: r.string(connection.sni, 'connection.sni') },
  };
  const principalNamespace = check.source.principal ? workloadIdentity(check.source.principal).namespace : undefined;
  if (principalNamespace && check.source.namespace && principalNamespace !== check.source.namespace) {
    r.problems.push({ path: 'source.namespace', message: `disagrees with the principal's (${principalNamespace})` });
  }
  if (r.problems.length > 0) {
    const summary = r.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    throw new BowlineError(Kinds.INVALID_ARGUMENT, `invalid authorization check: ${summary}`, r.problems);
  }
  return check;
}

/**
 * The input document: opa-envoy-plugin's (as Envoy's ext_authz would describe the request),
 * plus what Istio's sidecar knows besides: `bowline.source` (namespace from the principal,
 * remote IP), `bowline.destination` (the workload: namespace, labels, port) and
 * `bowline.request.auth` (what RequestAuthentication established from the JWT).
 */
export function authorizationInput(check: AuthorizationCheck): Record<string, unknown> {
  let input: Record<string, unknown>;
  try {
    input = buildInput({
      source: check.source.principal,
      destination: check.destination.principal,
      method: check.request.method,
      path: normaliseRequestPath(check.request.path),
      host: check.request.host,
      headers: check.request.headers,
    });
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    throw new BowlineError(Kinds.INVALID_ARGUMENT, error.message, [{ path: 'request', message: error.message }]);
  }
  const attributes = input.attributes as Obj;
  const { source, destination } = check;
  if (source.ip)
    attributes.source = { ...(attributes.source as Obj | undefined), address: socketAddress(source.ip, 0) };
  if (destination.ip || destination.port) {
    attributes.destination = {
      ...(attributes.destination as Obj | undefined),
      address: socketAddress(destination.ip, destination.port),
    };
  }
  if (check.connection.sni) attributes.tlsSession = { sni: check.connection.sni };
  const identity = source.principal ? workloadIdentity(source.principal) : undefined;
  const namespace = source.namespace ?? identity?.namespace;
  const bowline = input.bowline as Obj;
  bowline.source = {
    ...identity,
    ...(namespace ? { namespace } : {}),
    ...(source.remoteIp ? { remoteIp: source.remoteIp } : {}),
  };
  bowline.destination = {
    ...(isObj(bowline.destination) ? bowline.destination : {}),
    namespace: destination.namespace,
    labels: destination.labels,
    ...(destination.port ? { port: String(destination.port) } : {}),
  };
  if (check.request.auth) bowline.request = { auth: check.request.auth };
  return input;
}
