import { accessSync, constants } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import * as protobuf from 'protobufjs';
import { ENVOY_PROTO_INCLUDE_DIRS } from '#libs/proto';
import type { AnyMessage, DiscoveryResponse } from './types';

/** The Envoy protos whose messages Pilot encodes into `google.protobuf.Any`. */
const FILES = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  // Sidecar config (see SIDECAR_TYPE_URLS).
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  // The ADS response itself, encoded once per answer shared by many streams (see ResponseEncoder).
  'envoy/service/discovery/v3/discovery.proto',
];

const DISCOVERY_RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';

const WELL_KNOWN = ['api', 'descriptor', 'source_context', 'type'];

/**
 * Encodes Envoy messages (written as plain objects with proto field names and enum names) to
 * `google.protobuf.Any`. The protos are Envoy's own, loaded from @grpc/grpc-js-xds's copy.
 */
export class EnvoyCodec {
  private readonly root: protobuf.Root;
  private readonly types = new Map<string, protobuf.Type>();

  constructor(includeDirs: readonly string[] = ENVOY_PROTO_INCLUDE_DIRS) {
    for (const name of WELL_KNOWN) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const json = require(`protobufjs/google/protobuf/${name}.json`) as {
        nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } };
      };
      protobuf.common(name, json.nested.google.nested.protobuf.nested as Record<string, protobuf.AnyNestedObject>);
    }
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => {
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
    };
    root.loadSync(FILES, { keepCase: true });
    root.resolveAll();
    this.root = root;
  }

  /** The message encoded as `Any` of `typeUrl` (`type.googleapis.com/<full name>`). */
  pack(typeUrl: string, message: Record<string, unknown>): AnyMessage {
    const type = this.type(typeUrl);
    return { type_url: typeUrl, value: Buffer.from(type.encode(type.fromObject(message)).finish()) };
  }

  /** The wire bytes of a DiscoveryResponse (its resources already packed). */
  encodeResponse(response: DiscoveryResponse): Buffer {
    const type = this.type(DISCOVERY_RESPONSE);
    return Buffer.from(type.encode(type.fromObject(response)).finish());
  }

  /** Decodes a DiscoveryResponse as the gRPC loader does (proto field names, resources left packed), for tests. */
  decodeResponse(bytes: Uint8Array): DiscoveryResponse {
    const type = this.type(DISCOVERY_RESPONSE);
    return type.toObject(type.decode(bytes), { defaults: true, longs: String, enums: Number }) as DiscoveryResponse;
  }

  /** Decodes an `Any` back to a plain object (enums as names), for tests and debugging. */
  unpack(any: AnyMessage): Record<string, unknown> {
    const type = this.type(any.type_url);
    return type.toObject(type.decode(any.value), { enums: String, longs: String, defaults: false });
  }

  private type(typeUrl: string): protobuf.Type {
    let type = this.types.get(typeUrl);
    if (!type) {
      type = this.root.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
      this.types.set(typeUrl, type);
    }
    return type;
  }
}
