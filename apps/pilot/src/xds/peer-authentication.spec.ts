import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigResource } from '../registry/config-store';
import { effectivePeerAuthentication, namespaceMtlsMode, type Workload } from './peer-authentication';

const ROOT = 'istio-system';
const policy = (namespace: string, name: string, spec: Record<string, unknown>): ConfigResource => ({
  kind: 'PeerAuthentication',
  namespace,
  name,
  resourceVersion: 1,
  spec,
  labels: {},
});
const mode = (value: string) => ({ mtls: { mode: value } });
const selector = (labels: Record<string, string>) => ({ selector: { matchLabels: labels } });
const shopReviews = { namespace: 'shop', labels: { app: 'reviews' } };
const effective = (policies: ConfigResource[], workload: Workload = shopReviews) => {
  const result = effectivePeerAuthentication(policies, ROOT, workload);
  return { mode: result.mode, ports: Object.fromEntries(result.ports) };
};

describe('effectivePeerAuthentication', () => {
  it('is PERMISSIVE without policies', () => {
    assert.deepEqual(effective([]), { mode: 'PERMISSIVE', ports: {} });
  });

  it('takes the workload policy over the namespace policy over the mesh policy', () => {
    const mesh = policy(ROOT, 'mesh', mode('STRICT'));
    const namespace = policy('shop', 'ns', mode('DISABLE'));
    const workload = policy('shop', 'reviews', { ...selector({ app: 'reviews' }), ...mode('PERMISSIVE') });
    assert.equal(effective([mesh]).mode, 'STRICT');
    assert.equal(effective([mesh, namespace]).mode, 'DISABLE');
    assert.equal(effective([mesh, namespace, workload]).mode, 'PERMISSIVE');
  });

  it('ignores policies of other namespaces, unselected workloads, and selector policies in the root namespace', () => {
    const policies = [
      policy('other', 'ns', mode('STRICT')),
      policy('shop', 'ratings', { ...selector({ app: 'ratings' }), ...mode('STRICT') }),
      policy(ROOT, 'selecting', { ...selector({ app: 'reviews' }), ...mode('STRICT') }),
    ];
    assert.equal(effective(policies).mode, 'PERMISSIVE');
  });

  it('inherits through UNSET (and a missing mtls), and lets the first policy by name win a level', () => {
    const policies = [
      policy(ROOT, 'mesh', mode('STRICT')),
      policy('shop', 'a-unset', mode('UNSET')),
      policy('shop', 'b-disable', mode('DISABLE')),
      policy('shop', 'reviews', selector({ app: 'reviews' })),
    ];
    assert.equal(effective(policies).mode, 'STRICT');
  });

  it('applies port-level modes of the selector policy, an UNSET port inheriting the workload mode', () => {
    const policies = [
      policy('shop', 'ns', mode('STRICT')),
      policy('shop', 'reviews', {
        ...selector({ app: 'reviews' }),
        mtls: { mode: 'UNSET' },
        portLevelMtls: { '9080': { mode: 'DISABLE' }, '9090': { mode: 'UNSET' }, '9091': { mode: 'PERMISSIVE' } },
      }),
    ];
    assert.deepEqual(effective(policies), {
      mode: 'STRICT',
      ports: { 9080: 'DISABLE', 9090: 'STRICT', 9091: 'PERMISSIVE' },
    });
  });

  it('treats a namespace-wide policy in the root namespace as mesh-wide for its own workloads', () => {
    assert.equal(effective([policy(ROOT, 'mesh', mode('STRICT'))], { namespace: ROOT, labels: {} }).mode, 'STRICT');
  });
});

describe('namespaceMtlsMode', () => {
  it('reads the namespace and mesh policies only', () => {
    const policies = [
      policy(ROOT, 'mesh', mode('DISABLE')),
      policy('shop', 'reviews', { ...selector({ app: 'reviews' }), ...mode('STRICT') }),
      policy('web', 'ns', mode('STRICT')),
    ];
    assert.equal(namespaceMtlsMode(policies, ROOT, 'shop'), 'DISABLE');
    assert.equal(namespaceMtlsMode(policies, ROOT, 'web'), 'STRICT');
    assert.equal(namespaceMtlsMode([], ROOT, 'web'), 'PERMISSIVE');
  });
});
