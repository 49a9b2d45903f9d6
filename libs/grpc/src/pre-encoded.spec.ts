import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSync } from '@grpc/proto-loader';
import type { MethodDefinition } from '@grpc/proto-loader';
import { sendPreEncodedResponses } from './pre-encoded';
import { HEALTH_PACKAGE, PROTO_LOADER_OPTIONS } from './server-options';

describe('sendPreEncodedResponses', () => {
  const load = () => {
    const definition = loadSync(HEALTH_PACKAGE.protoPath, PROTO_LOADER_OPTIONS);
    const check = (definition['grpc.health.v1.Health'] as Record<string, MethodDefinition<object, object>>).Check;
    return { definition, check };
  };

  it('sends a Buffer as it is and still encodes message objects', () => {
    const { definition, check } = load();
    const plain = check.responseSerialize({ status: 1 });
    sendPreEncodedResponses(definition);
    assert.deepEqual(check.responseSerialize({ status: 1 }), plain, 'objects are encoded as before');
    const encoded = Buffer.from(plain);
    assert.equal(check.responseSerialize(encoded as unknown as object), encoded, 'a Buffer is passed through');
    assert.deepEqual(check.responseDeserialize(check.responseSerialize(encoded as unknown as object)), {
      status: 1,
    });
  });

  it('leaves request decoding alone', () => {
    const { definition, check } = load();
    const request = check.requestSerialize({ service: 'x' });
    sendPreEncodedResponses(definition);
    assert.deepEqual(check.requestDeserialize(request), { service: 'x' });
  });
});
