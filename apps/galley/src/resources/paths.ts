/** A field path as segments: `['spec', 'http', 0, 'route']`. */
export type PathSegments = readonly (string | number)[];

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Renders segments the way users read them: `spec.http[0].route`, `metadata.labels["app.kubernetes.io/name"]`. */
export function formatPath(segments: PathSegments): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** Parses an ajv instancePath (`/spec/http/0/route`) into segments (array indices as numbers). */
export function fromJsonPointer(pointer: string, value: unknown): (string | number)[] {
  if (!pointer) return [];
  const segments: (string | number)[] = [];
  let current = value;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const segment = Array.isArray(current) && /^\d+$/.test(key) ? Number(key) : key;
    segments.push(segment);
    current = current !== null && typeof current === 'object' ? (current as Record<string, unknown>)[key] : undefined;
  }
  return segments;
}

/** Loose readers for untrusted JSON: they never throw and return an empty value on a type mismatch. */
export function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function asStringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(asRecord(value))) if (typeof item === 'string') out[key] = item;
  return out;
}
