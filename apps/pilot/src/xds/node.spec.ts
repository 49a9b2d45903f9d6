import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PilotError } from '../errors';
import { parseNode } from './node';

const struct = (values: Record<string, string>) => ({
  fields: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { stringValue: v, kind: 'stringValue' }])),
});

describe('parseNode', () => {
  it('reads the namespace and IP from an Istio node id; a client without a service does not register', () => {
    const node = parseNode({
      id: 'sidecar~10.0.0.5~client.shop~shop.svc.cluster.local',
      cluster: '',
      metadata: null,
    });
    assert.equal(node.type, 'sidecar');
    assert.equal(node.namespace, 'shop');
    assert.equal(node.serviceAccount, 'default');
    assert.deepEqual(node.ips, ['10.0.0.5']);
    assert.equal(node.registration, undefined);
  });

  it('lets metadata override the id and registers a workload declaring BOWLINE_SERVICE', () => {
    const node = parseNode({
      id: 'sidecar~10.0.0.5~echo-1.default~default.svc.cluster.local',
      cluster: '',
      metadata: struct({
        NAMESPACE: 'echo',
        SERVICE_ACCOUNT: 'echo-sa',
        INSTANCE_IPS: '10.0.0.6,fd00::6',
        LABELS: 'app=echo,version=v1',
        BOWLINE_SERVICE: 'echo',
        BOWLINE_PORTS: '7070:17070, 8080',
      }),
    });
    assert.equal(node.namespace, 'echo');
    assert.equal(node.registration?.address, '10.0.0.6');
    assert.deepEqual(node.registration?.labels, { app: 'echo', version: 'v1' });
    assert.deepEqual(
      [...node.registration!.ports],
      [
        [7070, 17070],
        [8080, 8080],
      ],
    );
  });

  it('marks a Bowline sidecar proxy by BOWLINE_PROXY=sidecar; any other node is a proxyless client', () => {
    const id = 'sidecar~10.0.0.5~a.default~default.svc.cluster.local';
    assert.equal(parseNode({ id, cluster: '', metadata: struct({ BOWLINE_PROXY: 'sidecar' }) }).sidecar, true);
    assert.equal(parseNode({ id, cluster: '', metadata: struct({ BOWLINE_PROXY: 'router' }) }).sidecar, false);
    assert.equal(parseNode({ id, cluster: '', metadata: null }).sidecar, false);
  });

  it('refuses a node without an id and malformed ports, naming the problem', () => {
    assert.throws(() => parseNode(null), PilotError);
    assert.throws(
      () =>
        parseNode({
          id: 'sidecar~10.0.0.5~a.default~default.svc.cluster.local',
          cluster: '',
          metadata: struct({ BOWLINE_SERVICE: 'a', BOWLINE_PORTS: '70000' }),
        }),
      /BOWLINE_PORTS: "70000"/,
    );
  });
});
