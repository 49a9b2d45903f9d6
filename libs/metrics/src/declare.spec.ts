import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { recordBuildInfo } from './build-info';
import { counter, gauge, histogram } from './declare';

describe('metric declarations', () => {
  it('return the metric already registered under a name, so a module built twice shares it', async () => {
    const registry = new Registry();
    const params = { name: 'bowline_test_things_total', help: 'Things.', labelNames: ['kind'] as const };
    const first = counter(registry, { ...params, labelNames: [...params.labelNames] });
    first.inc({ kind: 'a' });
    const second = counter(registry, { ...params, labelNames: ['kind'] });
    second.inc({ kind: 'a' });
    assert.equal(first, second);
    assert.match(await registry.metrics(), /^bowline_test_things_total\{kind="a"\} 2$/m);
  });

  it('refuse a name registered as another type or with other labels, naming the metric', () => {
    const registry = new Registry();
    gauge(registry, { name: 'bowline_test_depth', help: 'Depth.', labelNames: ['queue'] });
    assert.throws(
      () => histogram(registry, { name: 'bowline_test_depth', help: 'Depth.', labelNames: ['queue'] }),
      /bowline_test_depth is already registered as another type/,
    );
    assert.throws(
      () => gauge(registry, { name: 'bowline_test_depth', help: 'Depth.', labelNames: ['shard'] }),
      /bowline_test_depth is already registered with labels \[queue\], not \[shard\]/,
    );
  });

  it('expose bowline_build_info as 1 labelled with the service and version', async () => {
    const registry = new Registry();
    recordBuildInfo(registry, 'galley', '1.2.3');
    assert.match(await registry.metrics(), /^bowline_build_info\{service="galley",version="1\.2\.3"\} 1$/m);
  });
});
