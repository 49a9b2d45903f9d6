/**
 * Cost of one xDS push in Pilot's DiscoveryServer, in process: a registry of S services (E
 * endpoints, two subsets and a 90/10 VirtualService each), C proxyless clients each subscribed
 * to LDS/RDS/CDS/EDS for K services, then one endpoint change (a debounced push to everyone).
 *
 *   npm run build && node dist/bench/pilot/push.js [--services 200] [--endpoints 10] [--proxies 500] [--per-proxy 5]
 *
 * Baseline, measured in the same run: encoding every resource of the registry once with
 * protobufjs (ConfigGenerator on a fresh snapshot, one proxy, wildcard), the floor of any push.
 * Prints the push time, the baseline, and their ratio. Numbers, never assertions.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import { SYSTEM_CLOCK } from '#libs/host';
import type { ConfigResource } from '../../apps/pilot/src/registry/config-store';
import { ConfigGenerator } from '../../apps/pilot/src/xds/config-generator';
import type { AdsCall } from '../../apps/pilot/src/xds/connection';
import { DiscoveryServer } from '../../apps/pilot/src/xds/discovery-server';
import { EnvoyCodec } from '../../apps/pilot/src/xds/envoy-codec';
import { TYPE_URLS, type XdsType } from '../../apps/pilot/src/xds/types';
import { configResource as res, inProcessRegistry } from '../../apps/pilot/src/registry/testing';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '200' },
    endpoints: { type: 'string', default: '10' },
    proxies: { type: 'string', default: '500' },
    'per-proxy': { type: 'string', default: '5' },
  },
});
const S = Number(values.services);
const E = Number(values.endpoints);
const C = Number(values.proxies);
const K = Number(values['per-proxy']);

class Call extends EventEmitter {
  writes = 0;
  write(): boolean {
    this.writes++;
    return true;
  }
  end(): void {}
}

function config(extra: number): ConfigResource[] {
  const out: ConfigResource[] = [];
  for (let s = 0; s < S; s++) {
    const name = `svc-${s}`;
    const endpoints = Array.from({ length: E + (s === 0 ? extra : 0) }, (_, e) => ({
      address: `10.${s >> 8}.${s & 255}.${e + 1}`,
      labels: { version: e % 2 ? 'v2' : 'v1' },
    }));
    out.push(
      res('ServiceEntry', name, {
        hosts: [`${name}.default.svc.cluster.local`],
        ports: [{ number: 8080, name: 'grpc' }],
        endpoints,
      }),
    );
    out.push(
      res('DestinationRule', name, {
        host: name,
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      }),
    );
    out.push(
      res('VirtualService', name, {
        hosts: [name],
        http: [
          {
            route: [
              { destination: { host: name, subset: 'v1' }, weight: 90 },
              { destination: { host: name, subset: 'v2' }, weight: 10 },
            ],
          },
        ],
      }),
    );
  }
  return out;
}

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const { settings, metrics, store, workloads, registry } = inProcessRegistry(config(0));

  const node = {
    id: 'sidecar~10.9.9.9~bench.default~default.svc.cluster.local',
    type: 'sidecar',
    namespace: 'default',
    serviceAccount: 'b',
    labels: {},
    ips: [],
  };
  const baselines: number[] = [];
  const codec = new EnvoyCodec();
  for (let i = 0; i < 5; i++) {
    const generator = new ConfigGenerator(codec);
    const started = performance.now();
    for (const type of ['LDS', 'RDS', 'CDS', 'EDS'] as XdsType[])
      generator.generate(type, registry.snapshot, node, null);
    baselines.push(performance.now() - started);
  }
  const baseline = median(baselines);

  const server = new DiscoveryServer(settings, SYSTEM_CLOCK, registry, workloads, metrics);
  server.onModuleInit();
  const calls: Call[] = [];
  for (let p = 0; p < C; p++) {
    const call = new Call();
    calls.push(call);
    server.open(call as unknown as AdsCall);
    const hosts = Array.from({ length: K }, (_, k) => `svc-${(p + k) % S}.default.svc.cluster.local`);
    const listeners = hosts.map((h) => `${h}:8080`);
    const clusters = hosts.flatMap((h) => ['', 'v1', 'v2'].map((subset) => `outbound|8080|${subset}|${h}`));
    const request = (type: XdsType, names: string[], first = false) =>
      call.emit('data', {
        version_info: '',
        node: first
          ? { id: `sidecar~10.8.0.${p}~p${p}.default~default.svc.cluster.local`, cluster: '', metadata: null }
          : null,
        resource_names: names,
        type_url: TYPE_URLS[type],
        response_nonce: '',
        error_detail: null,
      });
    request('LDS', listeners, true);
    request('RDS', listeners);
    request('CDS', clusters);
    request('EDS', clusters);
  }
  const pushes: number[] = [];
  for (let round = 1; round <= 5; round++) {
    const before = calls.reduce((sum, c) => sum + c.writes, 0);
    const started = performance.now();
    store.replace(config(round), round + 1);
    await new Promise((resolve) => setTimeout(resolve, 0));
    while (calls.reduce((sum, c) => sum + c.writes, 0) === before)
      await new Promise((resolve) => setTimeout(resolve, 0));
    pushes.push(performance.now() - started - settings.debounce);
  }
  const affected = calls.filter((_, p) => Array.from({ length: K }, (__, k) => (p + k) % S).includes(0)).length;
  server.onModuleDestroy();
  const push = median(pushes);
  console.log(
    `| services | endpoints/service | proxies | services/proxy | proxies affected | push (ms, median of 5) | baseline: encode whole registry once (ms) | ratio |`,
  );
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
  console.log(
    `| ${S} | ${E} | ${C} | ${K} | ${affected} | ${push.toFixed(1)} | ${baseline.toFixed(1)} | ${(push / baseline).toFixed(2)} |`,
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

void main();
