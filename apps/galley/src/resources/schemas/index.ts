import type { Kind } from '../kinds';
import { resource, type JsonSchema } from './builders';
import { destinationRule, gateway, serviceEntry, virtualService, workloadEntry } from './networking';
import { authorizationPolicy, peerAuthentication, requestAuthentication } from './security';

/** The JSON Schema of each kind's whole document (apiVersion, kind, metadata, spec). */
export const DOCUMENT_SCHEMAS: Record<Kind, JsonSchema> = {
  ServiceEntry: resource(serviceEntry),
  WorkloadEntry: resource(workloadEntry),
  VirtualService: resource(virtualService),
  DestinationRule: resource(destinationRule),
  Gateway: resource(gateway),
  PeerAuthentication: resource(peerAuthentication),
  AuthorizationPolicy: resource(authorizationPolicy),
  RequestAuthentication: resource(requestAuthentication),
};
