import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseYamlStream } from './documents';
import { validateDocuments } from './validation';

function validate(yaml: string) {
  const parsed = parseYamlStream(yaml);
  assert.deepEqual(parsed.problems, []);
  return validateDocuments(parsed.documents);
}

const paths = (problems: { path: string; message: string }[]) => problems.map((p) => `${p.path}: ${p.message}`);

describe('validateDocuments', () => {
  it('accepts Istio documents of every served apiVersion and defaults the namespace', () => {
    for (const apiVersion of [
      'networking.istio.io/v1',
      'networking.istio.io/v1beta1',
      'networking.istio.io/v1alpha3',
    ]) {
      const result = validate(
        `apiVersion: ${apiVersion}\nkind: DestinationRule\nmetadata: {name: r}\nspec: {host: r}\n`,
      );
      assert.deepEqual(result.problems, []);
      assert.equal(result.valid[0].namespace, 'default');
      assert.equal(result.valid[0].object.metadata.namespace, 'default');
    }
    const wrongGroup = validate(
      'apiVersion: networking.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec: {}\n',
    );
    assert.deepEqual(paths(wrongGroup.problems), [
      'apiVersion: must be one of security.istio.io/v1, security.istio.io/v1beta1 for kind PeerAuthentication',
    ]);
  });

  it('names the field path of schema and semantic problems', () => {
    const result = validate(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: a, labels: {"app": "x y"}}
spec:
  action: MAYBE
  rules:
  - to:
    - operation: {ports: ["80", "http"]}
    when:
    - key: request.nonsense
      values: [x]
`);
    assert.deepEqual(paths(result.problems).sort(), [
      'metadata.labels.app: label value must be at most 63 characters: letters, digits, "-", "_", "."',
      'spec.action: must be one of ALLOW, DENY, AUDIT, CUSTOM',
    ]);
    const semantic = validate(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: a}
spec:
  rules:
  - to:
    - operation: {ports: ["80", "http"]}
    when:
    - key: request.nonsense
      values: [x]
`);
    assert.deepEqual(paths(semantic.problems), [
      'spec.rules[0].to[0].operation.ports[1]: must be a port number between 1 and 65535',
      'spec.rules[0].when[0].key: unknown condition key "request.nonsense"',
    ]);
  });

  it('accepts Istio principal forms and refuses others', () => {
    const policy = (principal: string) =>
      `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n  rules:\n  - from:\n    - source: {principals: ["${principal}"]}\n`;
    for (const ok of ['*', 'cluster.local/ns/default/sa/sleep', 'cluster.local/ns/default/sa/*', '*/ns/default/sa/x']) {
      assert.deepEqual(validate(policy(ok)).problems, [], ok);
    }
    for (const bad of ['sleep', 'spiffe://cluster.local/ns/default/sa/sleep', 'a*b', 'cluster.local/ns/default']) {
      assert.deepEqual(
        paths(validate(policy(bad)).problems),
        ['spec.rules[0].from[0].source.principals[0]: must be "*" or <trust-domain>/ns/<ns>/sa/<sa>'],
        bad,
      );
    }
  });

  it('keeps unknown fields and reports them as warnings, not problems', () => {
    const result = validate(
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r, uid: x}\nspec: {host: r, novel: 1}\nstatus: {}\n',
    );
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.warnings.map((w) => w.path).sort(), ['metadata.uid', 'spec.novel', 'status']);
    assert.equal((result.valid[0].object.spec as Record<string, unknown>).novel, 1);
  });

  it('refuses the same resource twice in one request and unknown kinds', () => {
    const doc = 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec: {host: r}\n';
    const twice = validate(`${doc}---\n${doc}---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n`);
    assert.deepEqual(
      twice.problems.map((p) => `${p.document} ${p.path}: ${p.message}`),
      [
        '1 metadata.name: the same DestinationRule is also document 0 of this request',
        '2 kind: unknown kind "Service": expected one of ServiceEntry, WorkloadEntry, VirtualService, DestinationRule, Gateway, PeerAuthentication, AuthorizationPolicy, RequestAuthentication',
      ],
    );
  });

  it('checks weights, durations and required fields of a VirtualService', () => {
    const result = validate(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v}
spec:
  hosts: [v]
  http:
  - timeout: soon
    route:
    - destination: {host: v, subset: a}
      weight: 50
    - destination: {subset: b}
      weight: 50
`);
    assert.deepEqual(paths(result.problems).sort(), [
      'spec.http[0].route[1].destination.host: is required',
      'spec.http[0].timeout: must be a duration such as 10s, 1.5s, 100ms or 1h',
    ]);
  });
});
