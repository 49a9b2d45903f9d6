import { json, type ServiceProcess } from '#libs/testing';

/** Shared by the Galley end-to-end tests: Istio YAML taken from Istio's documentation. */
export const BOOKINFO = `# reviews: weighted routes between two subsets (Istio "traffic shifting" task)
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  labels:
    app: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 75
    - destination:
        host: reviews
        subset: v2
      weight: 25
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  labels:
    app: reviews
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      simple: RANDOM
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
    trafficPolicy:
      loadBalancer:
        simple: ROUND_ROBIN
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: reviews-v1
  labels:
    app: reviews
spec:
  address: 10.0.0.11
  labels:
    app: reviews
    version: v1
  serviceAccount: bookinfo-reviews
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: reviews-v2
  labels:
    app: reviews
spec:
  address: 10.0.0.12
  labels:
    app: reviews
    version: v2
  serviceAccount: bookinfo-reviews
---
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: external-svc-https
  labels:
    tier: egress
spec:
  hosts:
  - api.dropboxapi.com
  - www.googleapis.com
  location: MESH_EXTERNAL
  ports:
  - number: 443
    name: https
    protocol: TLS
  resolution: DNS
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: httpbin
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
      version: v1
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/sleep"]
    - source:
        namespaces: ["dev"]
    to:
    - operation:
        methods: ["GET"]
    when:
    - key: request.auth.claims[iss]
      values: ["https://accounts.google.com"]
`;

/** A small HTTP client for one Galley process. */
export function galleyClient(service: () => ServiceProcess, token: string) {
  const call = (method: string, path: string, body?: string, contentType = 'application/yaml') =>
    fetch(service().adminUrl + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      body,
    });
  return {
    call,
    apply: (yaml: string, query = '') => call('POST', `/v1/resources:apply${query}`, yaml),
    applyJson: (value: unknown) => call('POST', '/v1/apply', JSON.stringify(value), 'application/json'),
    get: async (path: string) => json(await call('GET', path)),
  };
}
