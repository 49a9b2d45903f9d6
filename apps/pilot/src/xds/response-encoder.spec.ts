import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { ENVOY_ADS_PACKAGE } from '#libs/proto';
import type { GeneratedResource } from './config-generator';
import { EnvoyCodec } from './envoy-codec';
import { type EncodedResponse, ResponseEncoder } from './response-encoder';
import { type DiscoveryResponse, TYPE_URLS } from './types';

/** How an ADS client's gRPC stub decodes a response (the real proto, the loader options clients use). */
const clientDecode = (
  loadSync(ENVOY_ADS_PACKAGE.protoPath, { ...PROTO_LOADER_OPTIONS, includeDirs: ENVOY_ADS_PACKAGE.includeDirs })[
    'envoy.service.discovery.v3.AggregatedDiscoveryService'
  ] as Record<string, MethodDefinition<object, DiscoveryResponse>>
).StreamAggregatedResources.responseDeserialize;

describe('ResponseEncoder', () => {
  const codec = new EnvoyCodec();
  const assignment = (name: string): GeneratedResource => ({
    name,
    resource: codec.pack(TYPE_URLS.EDS, { cluster_name: name }),
    digest: name,
  });
  const answer = [
    assignment('outbound|80||a.default.svc.cluster.local'),
    assignment('outbound|80||b.default.svc.cluster.local'),
  ];

  const decoded = (response: EncodedResponse) => clientDecode(response.bytes);

  it('writes what a client decodes as the whole response, its nonce included', () => {
    const response = new ResponseEncoder(codec).encode('EDS', answer, 'v1');
    const message = decoded(response);
    assert.equal(message.version_info, 'v1');
    assert.equal(message.type_url, TYPE_URLS.EDS);
    assert.equal(message.nonce, response.nonce);
    assert.deepEqual(message.control_plane, { identifier: 'bowline-pilot' });
    assert.deepEqual(
      message.resources.map((r) => codec.unpack(r).cluster_name),
      answer.map((r) => r.name),
    );
  });

  it('gives every stream the same response for the same answer, and other answers other nonces', () => {
    const encoder = new ResponseEncoder(codec);
    const first = encoder.encode('EDS', answer, 'v1');
    assert.equal(encoder.encode('EDS', answer, 'v1', 'another stream-s nonce'), first);
    const other = encoder.encode('EDS', [answer[0]], 'v2');
    assert.notEqual(other.nonce, first.nonce);
    assert.equal(decoded(other).resources.length, 1);
  });

  it('gives a stream that got this very response last a nonce of its own, with the same content', () => {
    const encoder = new ResponseEncoder(codec);
    const first = encoder.encode('EDS', answer, 'v1');
    const again = encoder.encode('EDS', answer, 'v1', first.nonce);
    assert.notEqual(again.nonce, first.nonce);
    assert.deepEqual({ ...decoded(again), nonce: '' }, { ...decoded(first), nonce: '' });
    assert.equal(encoder.encode('EDS', answer, 'v1', again.nonce), first, 'others still share the first');
  });

  it('encodes the same answer again when its version or type differs', () => {
    const encoder = new ResponseEncoder(codec);
    encoder.encode('EDS', answer, 'v1');
    assert.equal(decoded(encoder.encode('EDS', answer, 'v2')).version_info, 'v2');
    assert.equal(decoded(encoder.encode('CDS', answer, 'v2')).type_url, TYPE_URLS.CDS);
  });

  it('sends an empty state of the world as no resources', () => {
    const message = decoded(new ResponseEncoder(codec).encode('RDS', [], 'v0'));
    assert.deepEqual(message.resources, []);
    assert.equal(message.type_url, TYPE_URLS.RDS);
  });
});
