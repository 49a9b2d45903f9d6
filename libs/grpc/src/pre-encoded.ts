import type { PackageDefinition } from '@grpc/proto-loader';

/**
 * Lets a server handler write a response it has already encoded: a `Buffer` written to a call is
 * sent as it is, anything else is encoded by the method's own serializer as before. A server
 * that sends one response to many streams (Pilot's xDS pushes) encodes it once instead of once
 * per stream. No message object is ever a `Buffer`, so no other response changes.
 *
 * Rewrites the response serializers of every method in `definition`, in place (before grpc-js
 * builds service definitions from it).
 */
export function sendPreEncodedResponses(definition: PackageDefinition): void {
  for (const entry of Object.values(definition)) {
    if ('format' in entry) continue; // a message or enum type, not a service
    for (const method of Object.values(entry)) {
      const serialize = method.responseSerialize;
      method.responseSerialize = (value: object) => (Buffer.isBuffer(value) ? value : serialize(value));
    }
  }
}
