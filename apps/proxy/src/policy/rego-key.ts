import { type InputTree, keyPart, normaliseRequestPath, parsePathAndQuery } from '#libs/policy-runtime';
import type { AuthorizationRequest } from '../dataplane/authorization';

/**
 * The request fields the input document is built from, in the order a key reads them (`host`:
 * with the headers it falls back on; `source` and `destination`: whether the request has that
 * peer at all, which decides whether `attributes.source` and `attributes.destination` exist).
 */
const FIELDS = [
  'source',
  'destination',
  'sourcePrincipal',
  'sourceAddress',
  'destinationPrincipal',
  'destinationPort',
  'time',
  'method',
  'path',
  'host',
  'protocol',
] as const;
type Field = (typeof FIELDS)[number];

/** The headers a part depends on: every one, or those named (lower case). */
type Headers = 'all' | ReadonlySet<string>;

/** An object of the document: its keys, and the field that decides whether it exists (none: always). */
interface ObjectShape {
  readonly present?: Field;
  readonly keys: { readonly [key: string]: Shape };
}

/** Where each part of the proxy's input document comes from: objects of keys down to the fields. */
type Shape = ObjectShape | readonly Field[] | 'headers';

/**
 * requestInput's document by the request fields each part is built from. The parts it leaves
 * out do not depend on the request (`version`, `parsed_body`: the proxy passes no body), or are
 * never set (`attributes.request.http.id`). input.spec.ts checks, for every part of a document
 * built from a request that sets every field, that requests with equal keys have equal parts.
 */
const DOCUMENT: Shape = {
  keys: {
    attributes: {
      keys: {
        source: { present: 'source', keys: { principal: ['sourcePrincipal'], address: ['sourceAddress'] } },
        destination: {
          present: 'destination',
          keys: { principal: ['destinationPrincipal'], address: ['destinationPort'] },
        },
        request: {
          keys: {
            time: ['time'],
            http: {
              keys: { method: ['method'], path: ['path'], host: ['host'], protocol: ['protocol'], headers: 'headers' },
            },
          },
        },
      },
    },
    parsed_path: ['path'],
    parsed_query: ['path'],
    bowline: { keys: { source: ['sourcePrincipal'], destination: ['destinationPrincipal', 'destinationPort'] } },
  },
};

/** The fields (and headers) a Rego policy's parts of the input are built from: what regoRequestKey reads. */
export interface RegoKeyPlan {
  readonly fields: readonly Field[];
  readonly headers: Headers;
}

/** The plan for a policy that reads the parts in `tree`. */
export function regoKeyPlan(tree: Exclude<InputTree, true>): RegoKeyPlan {
  const fields = new Set<Field>();
  const names = new Set<string>();
  let allHeaders = false;
  const readHeaders = (read: Iterable<string> | 'all') => {
    if (read === 'all') {
      allHeaders = true;
      // Envoy's pseudo-headers stand in the map unless the request has its own.
      fields.add('method').add('path').add('host');
      return;
    }
    for (const name of read) {
      const lower = name.toLowerCase();
      names.add(lower);
      if (lower === ':method') fields.add('method');
      if (lower === ':path') fields.add('path');
      if (lower === ':authority') fields.add('host');
    }
  };
  const walk = (shape: Shape, node: InputTree) => {
    if (shape === 'headers') readHeaders(node === true ? 'all' : node.keys());
    else if (Array.isArray(shape)) for (const field of shape as readonly Field[]) fields.add(field);
    else {
      const { present, keys } = shape as ObjectShape;
      if (present) fields.add(present);
      for (const key of node === true ? Object.keys(keys) : node.keys()) {
        if (Object.prototype.hasOwnProperty.call(keys, key)) walk(keys[key], node === true ? true : node.get(key)!);
      }
    }
  };
  walk(DOCUMENT, tree);
  // `http.host` falls back on the `:authority` and `host` headers when the request has no host.
  if (fields.has('host')) readHeaders([':authority', 'host']);
  return { fields: FIELDS.filter((field) => fields.has(field)), headers: allHeaders ? 'all' : names };
}

/**
 * A key for a request's parts of the input (`requestInputParts(request, local, time, tree)` for
 * the plan's tree, with this proxy's `local`): two requests with the same key have the same
 * parts, so a Rego decision kept under it is the policy's decision for the other. It reads the
 * raw fields the parts come from, in a fixed order, and builds no object, which makes a kept
 * decision cost about what the Istio module's does (`requestKey`). Raw fields are finer than
 * the parts (`get` and `GET`, `/a/../b` and `/b` differ here): that costs an entry, never a
 * wrong decision. Throws InputError where requestInputParts does (an invalid escape in the path).
 */
export function regoRequestKey(request: AuthorizationRequest, time: number, plan: RegoKeyPlan): string {
  const raw = request.path;
  if (raw.includes('%')) parsePathAndQuery(normaliseRequestPath(raw)); // only an escape can make it throw
  let key = '';
  for (const field of plan.fields) {
    switch (field) {
      case 'source':
        key += request.sourcePrincipal || request.sourceAddress ? '1' : '0';
        break;
      case 'destination':
        key += request.destinationPrincipal || request.destinationPort ? '1' : '0';
        break;
      case 'time':
        key += keyPart(String(time));
        break;
      case 'destinationPort':
        key += keyPart(request.destinationPort?.toString());
        break;
      case 'path':
        key += keyPart(raw);
        break;
      default:
        key += keyPart(request[field]);
    }
  }
  const { headers } = plan;
  if (headers === 'all' || headers.size > 0) {
    // Every spelling of a header read, in order (a later one wins in the document).
    for (const name in request.headers) {
      const value = request.headers[name];
      if (value === undefined) continue;
      const lower = name.toLowerCase();
      if (headers !== 'all' && !headers.has(lower)) continue;
      key += keyPart(lower) + keyPart(Array.isArray(value) ? value.join(', ') : value);
    }
  }
  return key;
}
