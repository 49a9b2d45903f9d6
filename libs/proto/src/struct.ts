/** google.protobuf.Struct <-> JSON, as proto-loader (`oneofs: true`) reads and writes it: how Galley sends resources and xDS nodes carry metadata. */
import type { ProtoStruct, ProtoValue } from './index';

/** JSON → google.protobuf.Struct as proto-loader writes it. */
export function toStruct(object: Record<string, unknown>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [key, value] of Object.entries(object)) if (value !== undefined) fields[key] = toValue(value);
  return { fields };
}

export function toValue(value: unknown): ProtoValue {
  if (value === null || value === undefined) return { nullValue: 0 };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value as Record<string, unknown>) };
}

/** google.protobuf.Struct (as proto-loader reads it, `oneofs: true`) → JSON. */
export function fromStruct(struct: ProtoStruct | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = fromValue(value);
  return out;
}

export function fromValue(value: ProtoValue): unknown {
  // proto-loader (`oneofs: true`) names the set member in `kind`; with `defaults: true` every
  // other member is present too, with its default value.
  const record = value as Record<string, unknown> & { kind?: string };
  const kind = record.kind ?? Object.keys(record).find((key) => record[key] !== null && record[key] !== undefined);
  switch (kind) {
    case 'structValue':
      return fromStruct(record.structValue as ProtoStruct);
    case 'listValue':
      return ((record.listValue as { values?: ProtoValue[] }).values ?? []).map(fromValue);
    case 'stringValue':
    case 'numberValue':
    case 'boolValue':
      return record[kind];
    default:
      return null;
  }
}
