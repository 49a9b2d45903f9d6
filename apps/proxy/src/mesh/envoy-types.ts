import { accessSync, constants } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import * as protobuf from 'protobufjs';
import { ENVOY_PROTO_INCLUDE_DIRS } from '#libs/proto';

/** `google.protobuf.Any` as proto-loader reads and writes it. */
export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

/** An unpacked Any: its type and fields (Envoy's JSON form of Any). */
export type TypedMessage = { '@type': string } & Record<string, unknown>;

/** Envoy protos whose messages arrive in xDS responses, directly or inside `Any` fields. */
const FILES = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
];

/** Well-known protos that protobufjs does not bundle by default but Envoy's imports need. */
const WELL_KNOWN = ['api', 'descriptor', 'source_context', 'type'];

const TO_OBJECT: protobuf.IConversionOptions = {
  json: true, // unpacks nested Any fields into {"@type", ...fields}
  enums: String,
  longs: String,
  defaults: false,
  oneofs: true,
};

/**
 * Decodes Envoy messages packed in `google.protobuf.Any` into plain objects with proto field
 * names (enum names, int64 as strings), nested `Any` fields unpacked to `{"@type", ...fields}`:
 * the form `translate` reads. An `Any` of a type not loaded here stays packed (`type_url`,
 * `value`); translation rejects it where it matters. Envoy's protos come from
 * @grpc/grpc-js-xds's copy, as Pilot's encoder does.
 */
export class EnvoyTypes {
  private readonly root: protobuf.Root;
  private readonly anyType: protobuf.Type;

  constructor(includeDirs: readonly string[] = ENVOY_PROTO_INCLUDE_DIRS) {
    registerWellKnown();
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => resolve(target, includeDirs);
    root.loadSync(FILES, { keepCase: true });
    root.resolveAll();
    this.root = root;
    this.anyType = root.lookupType('google.protobuf.Any');
  }

  /** Whether messages of `typeUrl` can be decoded. */
  knows(typeUrl: string): boolean {
    return this.lookup(typeUrl) !== undefined;
  }

  /** Decodes an Any; throws for an unknown type or bytes that do not decode. */
  unpack(any: AnyMessage): TypedMessage {
    const type = this.lookup(any.type_url);
    if (!type) throw new Error(`unsupported resource type ${any.type_url}`);
    const object = type.toObject(type.decode(any.value), TO_OBJECT);
    return { '@type': any.type_url, ...object };
  }

  /** Encodes a message written with `"@type"` (nested Any fields too) as an Any. */
  pack(message: TypedMessage): AnyMessage {
    const any = this.anyType.fromObject(message) as unknown as AnyMessage;
    return { type_url: any.type_url, value: Buffer.from(any.value) };
  }

  private lookup(typeUrl: string): protobuf.Type | undefined {
    const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    const found = this.root.lookup(name);
    return found instanceof protobuf.Type ? found : undefined;
  }
}

let shared: EnvoyTypes | undefined;

/** One `EnvoyTypes` per process (loading the protos takes a while). */
export function envoyTypes(): EnvoyTypes {
  shared ??= new EnvoyTypes();
  return shared;
}

let registered = false;

function registerWellKnown(): void {
  if (registered) return;
  registered = true;
  for (const name of WELL_KNOWN) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const json = require(`protobufjs/google/protobuf/${name}.json`) as {
      nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } };
    };
    protobuf.common(name, json.nested.google.nested.protobuf.nested as Record<string, protobuf.AnyNestedObject>);
  }
}

function resolve(target: string, includeDirs: readonly string[]): string {
  if (isAbsolute(target)) return target;
  for (const dir of includeDirs) {
    const path = join(dir, target);
    try {
      accessSync(path, constants.R_OK);
      return path;
    } catch {
      continue;
    }
  }
  return target;
}
