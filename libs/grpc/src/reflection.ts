import { dirname, join } from 'node:path';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { Server } from '@grpc/grpc-js';
import descriptor from 'protobufjs/ext/descriptor';

const REFLECTION_PROTOS = ['v1', 'v1alpha'].map((version) =>
  join(
    dirname(require.resolve('@grpc/reflection/package.json')),
    'build',
    'proto',
    'grpc',
    'reflection',
    version,
    'reflection.proto',
  ),
);

/**
 * Adds gRPC server reflection (v1 and v1alpha) describing `definition` and the reflection
 * services themselves, so `grpcurl list` shows everything the server hosts.
 */
export function addReflection(definition: PackageDefinition, server: Pick<Server, 'addService'>): void {
  const described = { ...definition, ...loadSync(REFLECTION_PROTOS, { keepCase: true }) };
  new ReflectionService(fixMapEntryNames(described)).addToServer(server);
}

type DescriptorMessage = {
  name?: string;
  field?: { typeName?: string }[];
  nestedType?: DescriptorMessage[];
  options?: { mapEntry?: boolean };
};

/**
 * protobufjs names a map field's synthetic entry message after the field ("Statuses") where
 * protoc names it "StatusesEntry"; protoc-based clients (grpcurl, grpc-go) reject such
 * descriptors ("invalid map: incorrect implicit map entry name"). Renames those entries.
 */
export function fixMapEntryNames(definition: PackageDefinition): PackageDefinition {
  const fixed = new Map<Buffer, Buffer>();
  const fixBuffer = (buffer: Buffer): Buffer => {
    let result = fixed.get(buffer);
    if (!result) {
      const file = descriptor.FileDescriptorProto.decode(buffer) as unknown as { messageType?: DescriptorMessage[] };
      const changed = (file.messageType ?? []).map(renameMapEntries).some(Boolean);
      result = changed ? Buffer.from(descriptor.FileDescriptorProto.encode(file as never).finish()) : buffer;
      fixed.set(buffer, result);
    }
    return result;
  };
  const out: PackageDefinition = {};
  for (const [name, entry] of Object.entries(definition)) {
    const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    out[name] = protos ? ({ ...entry, fileDescriptorProtos: protos.map(fixBuffer) } as typeof entry) : entry;
  }
  return out;
}

function renameMapEntries(message: DescriptorMessage): boolean {
  let changed = false;
  for (const nested of message.nestedType ?? []) {
    changed = renameMapEntries(nested) || changed;
    if (!nested.options?.mapEntry || !nested.name || nested.name.endsWith('Entry')) continue;
    const oldName = nested.name;
    nested.name = `${oldName}Entry`;
    for (const field of message.field ?? []) {
      if (field.typeName === oldName || field.typeName?.endsWith(`.${oldName}`))
        field.typeName = `${field.typeName}Entry`;
    }
    changed = true;
  }
  return changed;
}
