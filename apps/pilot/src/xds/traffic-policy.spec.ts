import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigResource } from '../registry/config-store';
import { effectiveTrafficPolicy } from './traffic-policy';

const rule = (spec: Record<string, unknown>): ConfigResource => ({
  kind: 'DestinationRule',
  namespace: 'default',
  name: 'echo',
  resourceVersion: 1,
  spec,
  labels: {},
});

const RULE = rule({
  host: 'echo',
  trafficPolicy: {
    loadBalancer: { simple: 'RANDOM' },
    connectionPool: { tcp: { maxConnections: 10 } },
    tls: { mode: 'ISTIO_MUTUAL' },
    portLevelSettings: [{ port: { number: 8080 }, loadBalancer: { simple: 'ROUND_ROBIN' } }],
  },
  subsets: [
    {
      name: 'v2',
      trafficPolicy: {
        connectionPool: { http: { http2MaxRequests: 5 } },
        portLevelSettings: [{ port: { number: 8080 }, tls: { mode: 'DISABLE' } }],
      },
    },
  ],
});

describe('effectiveTrafficPolicy', () => {
  it('is empty without a rule or policy', () => {
    assert.deepEqual(effectiveTrafficPolicy(undefined, '', 80), {});
    assert.deepEqual(effectiveTrafficPolicy(rule({ host: 'echo' }), 'v1', 80), {});
  });

  it('applies the rule policy, then its port-level settings for the port', () => {
    assert.deepEqual(effectiveTrafficPolicy(RULE, '', 7070), {
      loadBalancer: { simple: 'RANDOM' },
      connectionPool: { tcp: { maxConnections: 10 } },
      tls: { mode: 'ISTIO_MUTUAL' },
    });
    assert.deepEqual(effectiveTrafficPolicy(RULE, '', 8080).loadBalancer, { simple: 'ROUND_ROBIN' });
  });

  it('overrides whole components with the subset policy, then the subset port-level settings', () => {
    assert.deepEqual(effectiveTrafficPolicy(RULE, 'v2', 7070), {
      loadBalancer: { simple: 'RANDOM' },
      connectionPool: { http: { http2MaxRequests: 5 } },
      tls: { mode: 'ISTIO_MUTUAL' },
    });
    assert.deepEqual(effectiveTrafficPolicy(RULE, 'v2', 8080), {
      loadBalancer: { simple: 'ROUND_ROBIN' },
      connectionPool: { http: { http2MaxRequests: 5 } },
      tls: { mode: 'DISABLE' },
    });
    assert.deepEqual(effectiveTrafficPolicy(RULE, 'unknown', 7070), effectiveTrafficPolicy(RULE, '', 7070));
  });
});
