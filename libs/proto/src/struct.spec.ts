import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { GALLEY_PACKAGE } from './index';
import { fromStruct, toStruct } from './struct';

describe('Struct conversion', () => {
  it('round-trips a resource through the wire format', () => {
    const definition = loadSync(GALLEY_PACKAGE.protoPath, PROTO_LOADER_OPTIONS);
    const list = (definition['bowline.galley.v1.ConfigWatch'] as unknown as Record<string, any>).List;
    const object = {
      kind: 'VirtualService',
      spec: { hosts: ['a'], http: [{ route: [{ weight: 25 }] }], x: null, on: true },
    };
    const wire = list.responseSerialize({
      version: '1',
      resources: [{ kind: 'VirtualService', object: toStruct(object) }],
    });
    const decoded = list.responseDeserialize(wire);
    assert.deepEqual(fromStruct(decoded.resources[0].object), object);
  });
});
