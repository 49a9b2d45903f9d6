import { randomBytes } from 'node:crypto';
import type { GeneratedResource } from './config-generator';
import type { EnvoyCodec } from './envoy-codec';
import { type DiscoveryResponse, TYPE_URLS, type XdsType } from './types';

const CONTROL_PLANE = { identifier: 'bowline-pilot' };

/** One response, encoded: what to write to the stream, and the nonce its ACK or NACK will name. */
export interface EncodedResponse {
  readonly nonce: string;
  readonly bytes: Buffer;
}

interface Shared extends EncodedResponse {
  readonly typeUrl: string;
  readonly version: string;
}

/**
 * Encodes DiscoveryResponses to their wire bytes, which the gRPC server sends as they are
 * (see sendPreEncodedResponses in #libs/grpc).
 *
 * Proxies of one kind and namespace that ask for the same names get the very same generated
 * answer (one array, see ConfigGenerator). It is encoded once, with a nonce of its own, and every
 * stream it goes to gets the same bytes: a nonce only has to tell one stream's responses apart,
 * and two different answers never share one. When a stream would get the same response twice in
 * a row (a re-sent subscription), the second gets a nonce of its own, so that an ACK or NACK always
 * names exactly one response of its stream.
 */
export class ResponseEncoder {
  private readonly shared = new WeakMap<readonly GeneratedResource[], Shared>();
  private readonly prefix = randomBytes(4).toString('hex');
  private count = 0;

  constructor(private readonly codec: EnvoyCodec) {}

  /** The response carrying `resources` as the state of the world of `type` at `version`; `lastNonce`: the stream's last. */
  encode(type: XdsType, resources: readonly GeneratedResource[], version: string, lastNonce?: string): EncodedResponse {
    const typeUrl = TYPE_URLS[type];
    let response = this.shared.get(resources);
    if (response?.typeUrl !== typeUrl || response.version !== version) {
      response = { typeUrl, version, ...this.encodeOne(typeUrl, resources, version) };
      this.shared.set(resources, response);
    }
    return response.nonce === lastNonce ? this.encodeOne(typeUrl, resources, version) : response;
  }

  private encodeOne(typeUrl: string, resources: readonly GeneratedResource[], version: string): EncodedResponse {
    const nonce = `${this.prefix}-${(++this.count).toString(36)}`;
    const response: DiscoveryResponse = {
      version_info: version,
      resources: resources.map((r) => r.resource),
      type_url: typeUrl,
      nonce,
      control_plane: CONTROL_PLANE,
    };
    return { nonce, bytes: this.codec.encodeResponse(response) };
  }
}
