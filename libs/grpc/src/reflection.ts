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
  new ReflectionService(fixDescriptors(described)).addToServer(server);
}

type Field = { typeName?: string };
type Message = {
  name?: string;
  field?: Field[];
  nestedType?: Message[];
  enumType?: { name?: string }[];
  options?: { mapEntry?: boolean };
};
type Method = { inputType?: string; outputType?: string };
type File = {
  name?: string;
  package?: string;
  dependency?: string[];
  messageType?: Message[];
  enumType?: { name?: string }[];
  service?: { method?: Method[] }[];
};

/**
 * protobufjs builds file descriptors that protoc-based clients (grpcurl, grpc-go) reject:
 * map entry messages named after the field ("Statuses", protoc says "StatusesEntry"), and
 * files that use types of another file (google.protobuf.Struct) without declaring it as a
 * dependency. Rewrites the descriptors so those clients resolve every type.
 */
export function fixDescriptors(definition: PackageDefinition): PackageDefinition {
  const fixedSets = new Map<Buffer[], Buffer[]>();
  const out: PackageDefinition = {};
  for (const [name, entry] of Object.entries(definition)) {
    const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    if (!protos) {
      out[name] = entry;
      continue;
    }
    let fixed = fixedSets.get(protos);
    if (!fixed) {
      fixed = fixFileSet(protos);
      fixedSets.set(protos, fixed);
    }
    out[name] = { ...entry, fileDescriptorProtos: fixed } as typeof entry;
  }
  return out;
}

function fixFileSet(protos: Buffer[]): Buffer[] {
  const files = protos.map((buffer) => descriptor.FileDescriptorProto.decode(buffer) as unknown as File);
  const owner = new Map<string, string>();
  for (const file of files) {
    for (const type of [...(file.messageType ?? []), ...(file.enumType ?? [])]) {
      owner.set(`${file.package ? `${file.package}.` : ''}${type.name}`, file.name ?? '');
    }
  }
  for (const file of files) {
    for (const message of file.messageType ?? []) renameMapEntries(message);
    const deps = new Set(file.dependency ?? []);
    for (const reference of references(file)) {
      const target = resolve(reference, file.package ?? '', owner);
      if (target && target !== file.name) deps.add(target);
    }
    file.dependency = [...deps];
  }
  return files.map((file) => Buffer.from(descriptor.FileDescriptorProto.encode(file as never).finish()));
}

function references(file: File): string[] {
  const found: string[] = [];
  const visit = (message: Message) => {
    for (const field of message.field ?? []) if (field.typeName) found.push(field.typeName);
    (message.nestedType ?? []).forEach(visit);
  };
  (file.messageType ?? []).forEach(visit);
  for (const service of file.service ?? []) {
    for (const method of service.method ?? []) found.push(method.inputType ?? '', method.outputType ?? '');
  }
  return found.filter(Boolean);
}

/** Resolves a (possibly relative) type name the way protoc does: innermost scope first. */
function resolve(reference: string, pkg: string, owner: Map<string, string>): string | undefined {
  if (reference.startsWith('.')) return owner.get(reference.slice(1));
  const scopes = pkg ? pkg.split('.') : [];
  for (let i = scopes.length; i >= 0; i--) {
    const candidate = [...scopes.slice(0, i), reference].join('.');
    for (let end = candidate.length; end > 0; end = candidate.lastIndexOf('.', end - 1)) {
      const file = owner.get(candidate.slice(0, end));
      if (file) return file;
    }
  }
  return undefined;
}

function renameMapEntries(message: Message): void {
  for (const nested of message.nestedType ?? []) {
    renameMapEntries(nested);
    if (!nested.options?.mapEntry || !nested.name || nested.name.endsWith('Entry')) continue;
    const oldName = nested.name;
    nested.name = `${oldName}Entry`;
    for (const field of message.field ?? []) {
      if (field.typeName === oldName || field.typeName?.endsWith(`.${oldName}`))
        field.typeName = `${field.typeName}Entry`;
    }
  }
}
