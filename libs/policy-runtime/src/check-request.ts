import { inputFromAttributes } from './input';

/**
 * Envoy's `envoy.service.auth.v3.CheckRequest` as @grpc/proto-loader decodes it (proto field
 * names, int64 as strings, enums as numbers, defaults filled in) to the input document
 * opa-envoy-plugin builds: `protojson.Marshal(request)` (lowerCamelCase names, default values
 * left out), then `parsed_path`, `parsed_query`, `parsed_body`, `truncated_body`, `version`.
 */

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

/** Sets `target[key]` unless `value` is a protobuf default (protojson leaves those out). */
function put(target: Obj, key: string, value: unknown): void {
  if (value === undefined || value === null || value === '' || value === 0 || value === false || value === '0') return;
  if (Array.isArray(value) && value.length === 0) return;
  if (isObj(value) && Object.keys(value).length === 0) return;
  target[key] = value;
}

function stringMap(value: unknown): Obj | undefined {
  return isObj(value) ? { ...value } : undefined;
}

/** `google.protobuf.Value` (with proto-loader's `kind` oneof discriminator) to plain JSON. */
export function protoValueToJson(value: unknown): unknown {
  if (!isObj(value)) return null;
  const kind = typeof value.kind === 'string' ? value.kind : Object.keys(value).find((k) => value[k] != null);
  switch (kind) {
    case 'null_value':
      return null;
    case 'number_value':
      return value.number_value;
    case 'string_value':
      return value.string_value;
    case 'bool_value':
      return value.bool_value;
    case 'struct_value':
      return protoStructToJson(value.struct_value);
    case 'list_value':
      return ((value.list_value as { values?: unknown[] } | undefined)?.values ?? []).map(protoValueToJson);
    default:
      return null;
  }
}

/** `google.protobuf.Struct` to a plain JSON object. */
export function protoStructToJson(struct: unknown): Obj {
  const fields = isObj(struct) && isObj(struct.fields) ? struct.fields : {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, protoValueToJson(v)]));
}

function timestamp(value: unknown): string | undefined {
  if (!isObj(value)) return undefined;
  const seconds = BigInt(String(value.seconds ?? '0'));
  const nanos = Number(value.nanos ?? 0);
  const base = new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  if (nanos === 0) return `${base}Z`;
  const fraction = String(nanos)
    .padStart(9, '0')
    .replace(/(0{3})+$/, '');
  return `${base}.${fraction}Z`;
}

const SOCKET_PROTOCOLS = ['TCP', 'UDP'];

function address(value: unknown): Obj | undefined {
  if (!isObj(value)) return undefined;
  const out: Obj = {};
  const socket = value.socket_address;
  if (isObj(socket)) {
    const s: Obj = {};
    if (socket.protocol) put(s, 'protocol', SOCKET_PROTOCOLS[Number(socket.protocol)] ?? socket.protocol);
    put(s, 'address', socket.address);
    put(s, 'portValue', socket.port_value);
    put(s, 'namedPort', socket.named_port);
    put(s, 'resolverName', socket.resolver_name);
    put(s, 'ipv4Compat', socket.ipv4_compat);
    out.socketAddress = s;
  }
  const pipe = value.pipe;
  if (isObj(pipe)) {
    const p: Obj = {};
    put(p, 'path', pipe.path);
    put(p, 'mode', pipe.mode);
    out.pipe = p;
  }
  return out;
}

function peer(value: unknown): Obj | undefined {
  if (!isObj(value)) return undefined;
  const out: Obj = {};
  put(out, 'address', address(value.address));
  put(out, 'service', value.service);
  put(out, 'labels', stringMap(value.labels));
  put(out, 'principal', value.principal);
  put(out, 'certificate', value.certificate);
  return out;
}

function httpRequest(value: unknown): Obj | undefined {
  if (!isObj(value)) return undefined;
  const out: Obj = {};
  for (const key of ['id', 'method'] as const) put(out, key, value[key]);
  put(out, 'headers', stringMap(value.headers));
  for (const key of ['path', 'host', 'scheme', 'query', 'fragment'] as const) put(out, key, value[key]);
  put(out, 'size', value.size === undefined || value.size === null ? undefined : String(value.size));
  put(out, 'protocol', value.protocol);
  put(out, 'body', value.body);
  if (Buffer.isBuffer(value.raw_body) || value.raw_body instanceof Uint8Array) {
    put(out, 'rawBody', Buffer.from(value.raw_body as Uint8Array).toString('base64'));
  }
  return out;
}

function metadata(value: unknown): Obj | undefined {
  if (!isObj(value) || !isObj(value.filter_metadata)) return undefined;
  const filters = Object.entries(value.filter_metadata).map(([k, v]) => [k, protoStructToJson(v)]);
  return filters.length > 0 ? { filterMetadata: Object.fromEntries(filters) } : undefined;
}

/** The `attributes` of a CheckRequest in protobuf JSON form. */
export function checkRequestAttributes(request: unknown): Obj {
  const attributes = isObj(request) && isObj(request.attributes) ? request.attributes : {};
  const out: Obj = {};
  put(out, 'source', peer(attributes.source));
  put(out, 'destination', peer(attributes.destination));
  if (isObj(attributes.request)) {
    const req: Obj = {};
    put(req, 'time', timestamp(attributes.request.time));
    put(req, 'http', httpRequest(attributes.request.http));
    put(out, 'request', req);
  }
  put(out, 'contextExtensions', stringMap(attributes.context_extensions));
  put(out, 'metadataContext', metadata(attributes.metadata_context));
  put(out, 'routeMetadataContext', metadata(attributes.route_metadata_context));
  if (isObj(attributes.tls_session)) {
    const tls: Obj = {};
    put(tls, 'sni', attributes.tls_session.sni);
    put(out, 'tlsSession', tls);
  }
  return out;
}

/** The full input document for a CheckRequest. Throws `InputError` for a malformed path or body. */
export function checkRequestToInput(request: unknown): Obj {
  return inputFromAttributes(checkRequestAttributes(request));
}
