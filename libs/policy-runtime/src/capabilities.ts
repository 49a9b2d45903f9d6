import { createHash } from 'node:crypto';

/**
 * Built-ins that OPA 1.22 compiles into the WebAssembly module itself (found by compiling a
 * policy that calls every built-in with `opa build -t wasm` and reading the module's
 * `builtins` export: these are the ones it does not import from the host).
 */
export const NATIVE_WASM_BUILTINS: readonly string[] = [
  'abs',
  'and',
  'array.concat',
  'array.flatten',
  'array.reverse',
  'array.slice',
  'base64.decode',
  'base64.encode',
  'base64.is_valid',
  'base64url.decode',
  'base64url.encode',
  'bits.and',
  'bits.lsh',
  'bits.negate',
  'bits.or',
  'bits.rsh',
  'bits.xor',
  'ceil',
  'concat',
  'contains',
  'count',
  'div',
  'endswith',
  'floor',
  'format_int',
  'glob.match',
  'graph.reachable',
  'gt',
  'gte',
  'indexof',
  'intersection',
  'is_array',
  'is_boolean',
  'is_null',
  'is_number',
  'is_object',
  'is_set',
  'is_string',
  'json.filter',
  'json.is_valid',
  'json.marshal',
  'json.remove',
  'json.unmarshal',
  'lower',
  'lt',
  'lte',
  'max',
  'min',
  'minus',
  'mul',
  'neq',
  'net.cidr_contains',
  'net.cidr_intersects',
  'numbers.range',
  'object.filter',
  'object.get',
  'object.keys',
  'object.remove',
  'object.union',
  'object.union_n',
  'or',
  'plus',
  'product',
  'regex.find_all_string_submatch_n',
  'regex.is_valid',
  'regex.match',
  'rego.metadata.chain',
  'rego.metadata.rule',
  'rem',
  'replace',
  'round',
  'sort',
  'split',
  'startswith',
  'strings.replace_n',
  'strings.reverse',
  'substring',
  'sum',
  'to_number',
  'trim',
  'trim_left',
  'trim_prefix',
  'trim_right',
  'trim_space',
  'trim_suffix',
  'type_name',
  'union',
  'upper',
  'walk',
];

/** The language's own operators (`=`, `:=`, `==`, `in`), always available. */
export const LANGUAGE_BUILTINS: readonly string[] = ['eq', 'assign', 'equal', 'internal.member_2', 'internal.member_3'];

/** Built-ins that `@open-policy-agent/opa-wasm` implements in JavaScript. */
export const SDK_BUILTINS: readonly string[] = [
  'sprintf',
  'regex.split',
  'yaml.is_valid',
  'yaml.marshal',
  'yaml.unmarshal',
];

/** An OPA capabilities document (`opa capabilities --current`), as far as Bowline reads it. */
export interface OpaCapabilities {
  builtins: { name: string; [key: string]: unknown }[];
  [key: string]: unknown;
}

/**
 * Restricts OPA's capabilities to the built-ins this runtime can evaluate (native wasm,
 * the SDK's, and `hostBuiltins`), so a policy calling anything else (`http.send`,
 * `opa.runtime`, ...) fails at compile time with `undefined function`, never at request time.
 */
export function restrictCapabilities(current: OpaCapabilities, hostBuiltins: Iterable<string>): OpaCapabilities {
  const supported = new Set([...NATIVE_WASM_BUILTINS, ...LANGUAGE_BUILTINS, ...SDK_BUILTINS, ...hostBuiltins]);
  const builtins = current.builtins.filter((builtin) => supported.has(builtin.name));
  return { ...current, builtins };
}

/** SHA-256 (hex) of a capabilities document as written to the compiler: recorded with each revision. */
export function capabilitiesHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
