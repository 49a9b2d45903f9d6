import { fromStruct, type ProtoStruct } from '#libs/proto';
import { MeshConfigError, type MeshResourceKind } from './errors';

/** The resource a field belongs to, for error messages. */
interface Origin {
  readonly kind: MeshResourceKind;
  readonly name: string;
}

const TYPE_PREFIX = 'type.googleapis.com/';
const STRUCT_VALUE_KEYS = new Set(['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue']);
const DURATION = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/;

/**
 * One field of a decoded Envoy message (proto field names), with its path from the resource
 * root so that every error names where it is. Reads both forms a message arrives in:
 * proto-loader's (Duration `{seconds: '5', nanos: 0}`, wrappers `{value: n}`, Struct
 * `{fields: {...}}`, int64 as strings) and Envoy's JSON/YAML form (`"5s"`, plain numbers, plain
 * objects). An `Any` is expected unpacked: `{"@type": "type.googleapis.com/<type>", ...fields}`.
 */
export class Field {
  private constructor(
    readonly value: unknown,
    readonly path: string,
    private readonly origin: Origin,
  ) {}

  /** The root of a resource; `name` is what errors call it. */
  static root(value: unknown, kind: MeshResourceKind, name: string): Field {
    return new Field(value, '', { kind, name });
  }

  /** The root of a resource named by its own string field `nameField` (`'(unnamed)'` when unset). */
  static resource(value: unknown, kind: MeshResourceKind, nameField: string): Field {
    const name = Field.root(value, kind, '(unnamed)').get(nameField).requireString();
    return Field.root(value, kind, name);
  }

  /** Whether the field has a value (neither undefined nor null). */
  get isSet(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  /** The child field `name` (unset when this one is unset). */
  get(name: string): Field {
    return new Field(this.object()?.[name], this.path ? `${this.path}.${name}` : name, this.origin);
  }

  /** The entry `key` of a map field. */
  entry(key: string): Field {
    return new Field(this.object()?.[key], `${this.path}[${JSON.stringify(key)}]`, this.origin);
  }

  /** The message as a plain object; undefined when unset. */
  object(): Readonly<Record<string, unknown>> | undefined {
    if (!this.isSet) return undefined;
    if (typeof this.value !== 'object' || Array.isArray(this.value)) this.fail('expected a message (an object)');
    return this.value as Record<string, unknown>;
  }

  /** The elements of a repeated field; empty when unset. */
  list(): Field[] {
    if (!this.isSet) return [];
    if (!Array.isArray(this.value)) this.fail('expected a list');
    return (this.value as unknown[]).map((item, index) => new Field(item, `${this.path}[${index}]`, this.origin));
  }

  /** Names of the set fields of a message, or keys of a map. */
  keys(): string[] {
    const object = this.object() ?? {};
    return Object.keys(object).filter((key) => object[key] !== undefined && object[key] !== null);
  }

  string(): string | undefined {
    if (!this.isSet) return undefined;
    if (typeof this.value !== 'string') this.fail('expected a string');
    return this.value as string;
  }

  /** A non-empty string. */
  requireString(): string {
    const value = this.string();
    if (!value) this.fail('is required');
    return value;
  }

  bool(): boolean | undefined {
    if (!this.isSet) return undefined;
    if (typeof this.value !== 'boolean') this.fail('expected a boolean');
    return this.value as boolean;
  }

  /** A non-negative integer (uint32/uint64; int64 arrive as decimal strings). */
  uint(): number | undefined {
    if (!this.isSet) return undefined;
    const value = typeof this.value === 'string' && /^\d+$/.test(this.value) ? Number(this.value) : this.value;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      this.fail('expected a non-negative integer');
    }
    return value as number;
  }

  /** A number (double). */
  number(): number | undefined {
    if (!this.isSet) return undefined;
    const value = typeof this.value === 'string' ? Number(this.value) : this.value;
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail('expected a number');
    return value as number;
  }

  /** A `google.protobuf.UInt32Value` (`{value: n}`, `{}` for 0, or a plain number in JSON). */
  wrappedUint(): number | undefined {
    return this.isWrapper() ? (this.get('value').uint() ?? 0) : this.uint();
  }

  /** A `google.protobuf.DoubleValue` / `envoy.type.v3.Percent` (`{value: x}`). */
  wrappedNumber(): number | undefined {
    return this.isWrapper() ? (this.get('value').number() ?? 0) : this.number();
  }

  /** A `google.protobuf.BoolValue` (`{value: b}`, `{}` for false, or a plain boolean in JSON). */
  wrappedBool(): boolean | undefined {
    return this.isWrapper() ? (this.get('value').bool() ?? false) : this.bool();
  }

  /** A `google.protobuf.Duration` in milliseconds (`{seconds, nanos}` or JSON's `"1.5s"`). */
  durationMs(): number | undefined {
    if (!this.isSet) return undefined;
    let ms: number;
    if (typeof this.value === 'string') {
      const match = DURATION.exec(this.value);
      if (!match) this.fail(`invalid duration "${this.value}" (expected e.g. "1.5s")`);
      ms = (Number(match[2]) * 1e9 + Number((match[3] ?? '').padEnd(9, '0'))) / 1e6;
      if (match[1]) ms = -ms;
    } else {
      const seconds = this.signedInteger(this.get('seconds').value);
      const nanos = this.signedInteger(this.get('nanos').value);
      ms = seconds * 1000 + nanos / 1e6;
    }
    if (ms < 0) this.fail('a duration must not be negative');
    return ms;
  }

  /** An enum value by name (proto-loader `enums: String`), or `fallback` (the proto default) when unset. */
  enumOf<T extends string>(allowed: readonly T[], fallback: T): T {
    if (!this.isSet) return fallback;
    if (typeof this.value !== 'string' || !(allowed as readonly string[]).includes(this.value)) {
      this.fail(`${JSON.stringify(this.value)} is not supported (supported: ${allowed.join(', ')})`);
    }
    return this.value as T;
  }

  /** A `google.protobuf.Struct` as plain JSON (from proto-loader's `{fields}` form or JSON). */
  struct(): Record<string, unknown> | undefined {
    const object = this.object();
    if (!object) return undefined;
    return isProtoStruct(object) ? fromStruct(object as unknown as ProtoStruct) : { ...object };
  }

  /**
   * The full message name of an unpacked `Any` (`'@type'` without its prefix). A still packed
   * Any (`type_url` and bytes) is a type the decoder does not know: an error.
   */
  anyType(): string | undefined {
    const object = this.object();
    if (!object) return undefined;
    const type = object['@type'];
    if (typeof type === 'string') return type.startsWith(TYPE_PREFIX) ? type.slice(TYPE_PREFIX.length) : type;
    if (typeof object.type_url === 'string') this.fail(`unsupported type ${object.type_url}`);
    this.fail('expected a typed message with "@type"');
  }

  /** Fails unless the field is an unpacked Any of one of `types` (full message names); returns the type. */
  requireType(...types: string[]): string {
    const type = this.anyType();
    if (type === undefined) this.fail('is required');
    if (!types.includes(type)) this.fail(`unsupported type ${type} (expected ${types.join(' or ')})`);
    return type;
  }

  /** Fails when the field is set: for content the proxy cannot honour. */
  rejectIfSet(why = 'is not supported'): void {
    if (!this.isSet) return;
    if (Array.isArray(this.value) && this.value.length === 0) return;
    this.fail(why);
  }

  /** Throws a `MeshConfigError` for this field. */
  fail(message: string): never {
    throw new MeshConfigError(this.origin.kind, this.origin.name, this.path, message);
  }

  private isWrapper(): boolean {
    return typeof this.value === 'object' && this.value !== null && !Array.isArray(this.value);
  }

  private signedInteger(value: unknown): number {
    if (value === undefined || value === null) return 0;
    const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isSafeInteger(number)) this.fail('invalid duration');
    return number as number;
  }
}

/** Whether an object is proto-loader's Struct form (`{fields: {k: {stringValue: ...}}}`). */
function isProtoStruct(object: Readonly<Record<string, unknown>>): boolean {
  const keys = Object.keys(object);
  if (keys.length !== 1 || keys[0] !== 'fields') return false;
  const fields = object.fields;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return false;
  return Object.values(fields).every(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      Object.keys(value).some((key) => key === 'kind' || STRUCT_VALUE_KEYS.has(key)),
  );
}
