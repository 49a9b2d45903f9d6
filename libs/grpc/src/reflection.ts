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

type Field = { name?: string; typeName?: string; extendee?: string; defaultValue?: string };
type Message = {
  name?: string;
  field?: Field[];
  extension?: Field[];
  extensionRange?: { start?: number; end?: number }[];
  reservedRange?: { start?: number; end?: number }[];
  nestedType?: Message[];
  enumType?: { name?: string }[];
  options?: { mapEntry?: boolean };
};
type Method = { inputType?: string; outputType?: string };
type File = {
  name?: string;
  syntax?: string;
  package?: string;
  dependency?: string[];
  messageType?: Message[];
  enumType?: { name?: string }[];
  service?: { method?: Method[] }[];
  extension?: Field[];
};

/**
 * protobufjs builds file descriptors that protoc-based clients (grpcurl, grpc-go) reject:
 * map entry messages named after the field ("Statuses", protoc says "StatusesEntry"), and
 * files that use types of another file (google.protobuf.Struct) without declaring it as a
 * dependency, and extensions mirrored into the messages they extend. Rewrites the
 * descriptors so those clients resolve every type.
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
    for (const message of file.messageType ?? []) {
      renameMapEntries(message);
      dropMirroredExtensions(message);
    }
    // protobufjs marks a file proto3 even when it holds proto2 types (descriptor.proto's
    // extension ranges and defaults); proto2 is what those types are written in.
    if (file.syntax === 'proto3' && (file.messageType ?? []).some(usesProto2)) file.syntax = 'proto2';
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
  const fields = (list: Field[] = []) => list.forEach((f) => found.push(f.typeName ?? '', f.extendee ?? ''));
  const visit = (message: Message) => {
    fields(message.field);
    fields(message.extension);
    (message.nestedType ?? []).forEach(visit);
  };
  fields(file.extension);
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
    if (!nested.options?.mapEntry || !nested.name) continue;
    const oldName = nested.name;
    const field = (message.field ?? []).find((f) => f.typeName === oldName || f.typeName?.endsWith(`.${oldName}`));
    if (!field?.name) continue;
    // protoc: the field name in CamelCase (underscores dropped, next letter upper-cased) + "Entry".
    const wanted = `${field.name.replace(/(^|_)([a-z0-9])/g, (_m, _u, c: string) => c.toUpperCase())}Entry`;
    if (wanted === oldName) continue;
    nested.name = wanted;
    field.typeName = `${field.typeName!.slice(0, field.typeName!.length - oldName.length)}${wanted}`;
  }
}

/**
 * protobufjs also lists an extension as a field of the message it extends (named
 * ".pkg.ext"); protoc does not, and the mirror makes the extended file depend on the
 * extending one (an import cycle for google.protobuf.FileOptions). The extension stays
 * declared where it belongs.
 */
function dropMirroredExtensions(message: Message): void {
  message.field = (message.field ?? []).filter((field) => !field.name?.startsWith('.'));
  // protobufjs writes range ends inclusive; descriptors want them exclusive.
  for (const range of [...(message.extensionRange ?? []), ...(message.reservedRange ?? [])]) {
    if (range.end !== undefined) range.end += 1;
  }
  (message.nestedType ?? []).forEach(dropMirroredExtensions);
}

function usesProto2(message: Message): boolean {
  return (
    (message.extensionRange ?? []).length > 0 ||
    (message.field ?? []).some((field) => field.defaultValue !== undefined) ||
    (message.nestedType ?? []).some(usesProto2)
  );
}
