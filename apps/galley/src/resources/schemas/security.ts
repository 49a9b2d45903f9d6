import {
  arr,
  bool,
  duration,
  mapOf,
  obj,
  oneOfValues,
  str,
  strs,
  targetRef,
  workloadSelector,
  type JsonSchema,
} from './builders';

// security.istio.io: PeerAuthentication, AuthorizationPolicy, RequestAuthentication (v1 / v1beta1).

const mtlsMode = oneOfValues('UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT');

export const peerAuthentication: JsonSchema = obj({
  selector: workloadSelector,
  mtls: obj({ mode: mtlsMode }),
  portLevelMtls: { ...mapOf(obj({ mode: mtlsMode })), propertyNames: { pattern: '^[0-9]+$' } },
});

const source = obj({
  principals: strs,
  notPrincipals: strs,
  requestPrincipals: strs,
  notRequestPrincipals: strs,
  namespaces: strs,
  notNamespaces: strs,
  ipBlocks: strs,
  notIpBlocks: strs,
  remoteIpBlocks: strs,
  notRemoteIpBlocks: strs,
  serviceAccounts: strs,
  notServiceAccounts: strs,
});

const operation = obj({
  hosts: strs,
  notHosts: strs,
  ports: strs,
  notPorts: strs,
  methods: strs,
  notMethods: strs,
  paths: strs,
  notPaths: strs,
});

export const authorizationPolicy: JsonSchema = obj({
  selector: workloadSelector,
  targetRef,
  targetRefs: arr(targetRef),
  rules: arr(
    obj({
      from: arr(obj({ source }, ['source'])),
      to: arr(obj({ operation }, ['operation'])),
      when: arr(obj({ key: str, values: strs, notValues: strs }, ['key'])),
    }),
  ),
  action: oneOfValues('ALLOW', 'DENY', 'AUDIT', 'CUSTOM'),
  provider: obj({ name: str }, ['name']),
});

export const requestAuthentication: JsonSchema = obj({
  selector: workloadSelector,
  targetRef,
  targetRefs: arr(targetRef),
  jwtRules: arr(
    obj(
      {
        issuer: str,
        audiences: strs,
        jwksUri: str,
        jwks: str,
        fromHeaders: arr(obj({ name: str, prefix: str }, ['name'])),
        fromParams: strs,
        fromCookies: strs,
        outputPayloadToHeader: str,
        forwardOriginalToken: bool,
        outputClaimToHeaders: arr(obj({ header: str, claim: str }, ['header', 'claim'])),
        timeout: duration,
      },
      ['issuer'],
    ),
  ),
});
