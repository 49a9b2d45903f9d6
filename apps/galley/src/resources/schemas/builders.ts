/**
 * Small builders for the JSON Schemas of Istio's resources. Every object schema is closed
 * (`additionalProperties: false`): a field the schema does not list is reported as "unknown,
 * not acted on" (a warning), never refused, so a user's Istio YAML is accepted as is.
 */
export type JsonSchema = Record<string, unknown>;

export const str: JsonSchema = { type: 'string' };
export const bool: JsonSchema = { type: 'boolean' };
export const num: JsonSchema = { type: 'number' };
export const strs: JsonSchema = { type: 'array', items: str };
export const stringMap: JsonSchema = { type: 'object', additionalProperties: str };

export function obj(properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema {
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

export function arr(items: JsonSchema, minItems = 0): JsonSchema {
  return { type: 'array', items, ...(minItems ? { minItems } : {}) };
}

export function mapOf(values: JsonSchema): JsonSchema {
  return { type: 'object', additionalProperties: values };
}

export function int(minimum?: number, maximum?: number): JsonSchema {
  return {
    type: 'integer',
    ...(minimum !== undefined ? { minimum } : {}),
    ...(maximum !== undefined ? { maximum } : {}),
  };
}

export function oneOfValues(...values: string[]): JsonSchema {
  return { type: 'string', enum: values };
}

/** A protobuf Duration as Istio writes it in YAML: `10s`, `0.5s`, `1m30s`, `100ms`. */
export const duration: JsonSchema = {
  type: 'string',
  pattern: '^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|µs|ns))+$',
};

export const port = int(1, 65535);
export const portSelector = obj({ number: port });
export const percent = obj({ value: { type: 'number', minimum: 0, maximum: 100 } });
export const stringMatch = { ...obj({ exact: str, prefix: str, regex: str }), maxProperties: 1 };
export const workloadSelector = obj({ matchLabels: stringMap });
export const targetRef = obj({ group: str, kind: str, name: str, namespace: str }, ['name']);

export const metadata = obj(
  {
    name: str,
    namespace: str,
    labels: stringMap,
    annotations: stringMap,
    resourceVersion: { type: ['string', 'integer'] },
  },
  ['name'],
);

/** The schema of a whole document whose `spec` is `spec`. */
export function resource(spec: JsonSchema): JsonSchema {
  return obj({ apiVersion: str, kind: str, metadata, spec }, ['apiVersion', 'kind', 'metadata', 'spec']);
}
