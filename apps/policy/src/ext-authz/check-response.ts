import type { Decision, HeaderEntry } from '#libs/policy-runtime';

/** gRPC status codes used in CheckResponse.status (google.rpc.Code). */
export const RPC_OK = 0;
export const RPC_PERMISSION_DENIED = 7;

/** `envoy.service.auth.v3.CheckResponse` as proto-loader encodes it (proto field names). */
export interface CheckResponse {
  status: { code: number; message: string };
  ok_response?: {
    headers: HeaderValueOption[];
    headers_to_remove: string[];
    response_headers_to_add: HeaderValueOption[];
  };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
  dynamic_metadata?: ProtoStruct;
}

interface HeaderValueOption {
  header: { key: string; value: string };
}

type ProtoValue =
  | { null_value: 0 }
  | { number_value: number }
  | { string_value: string }
  | { bool_value: boolean }
  | { struct_value: ProtoStruct }
  | { list_value: { values: ProtoValue[] } };
interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

function protoValue(value: unknown): ProtoValue {
  if (value === null || value === undefined) return { null_value: 0 };
  if (typeof value === 'number') return { number_value: value };
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (Array.isArray(value)) return { list_value: { values: value.map(protoValue) } };
  return { struct_value: protoStruct(value as Record<string, unknown>) };
}

function protoStruct(object: Record<string, unknown>): ProtoStruct {
  return { fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, protoValue(v)])) };
}

const options = (headers: HeaderEntry[]): HeaderValueOption[] =>
  headers.map(({ key, value }) => ({ header: { key, value } }));

/**
 * A decision as opa-envoy-plugin answers Envoy: allowed → status OK with `ok_response`
 * (headers to add and remove, response headers); denied → PERMISSION_DENIED with
 * `denied_response` (HTTP status, default 403, headers, body).
 */
export function toCheckResponse(decision: Decision, reason = ''): CheckResponse {
  const response: CheckResponse = decision.allowed
    ? {
        status: { code: RPC_OK, message: '' },
        ok_response: {
          headers: options(decision.headers),
          headers_to_remove: decision.requestHeadersToRemove,
          response_headers_to_add: options(decision.responseHeadersToAdd),
        },
      }
    : {
        status: { code: RPC_PERMISSION_DENIED, message: decision.error?.message ?? reason },
        denied_response: {
          status: { code: decision.httpStatus ?? 403 },
          headers: options(decision.headers),
          body: decision.body ?? '',
        },
      };
  if (decision.dynamicMetadata) response.dynamic_metadata = protoStruct(decision.dynamicMetadata);
  return response;
}
