/**
 * In-proxy authorization cost: `PolicyAuthorizer.authorize()` as the inbound listener calls it
 * for every request (input building, the Istio AuthorizationPolicy module over ~20 policies,
 * then an opa-envoy-plugin Rego policy; decision logging to an in-memory sink).
 *
 *   npm run build && node dist/bench/policy/in-proxy.js [iterations]
 *
 * Prints p50/p99/max in microseconds for the AuthorizationPolicy-only bundle and for the
 * bundle with a Rego policy. Numbers, never assertions.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pino from 'pino';
import { readWasmBundle } from '#libs/policy-runtime';
import { toolPath } from '#libs/testing';
import { ISTIO_AUTHZ_ENTRYPOINT, ISTIO_AUTHZ_REGO } from '../../apps/policy/src/authorization/istio-authz.rego';
import { normalisePolicy } from '../../apps/policy/src/authorization/normalise';
import type { AuthorizationRequest } from '../../apps/proxy/src/dataplane/authorization';
import { BUNDLE_FORMAT, parseBundle } from '../../apps/proxy/src/policy/bundle';
import { PolicyAuthorizer } from '../../apps/proxy/src/policy/policy-authorizer';

const run = promisify(execFile);

const REGO = `package envoy.authz

default allow := {"allowed": false, "http_status": 401}

allow := {"allowed": true, "headers": {"x-authz": "ok"}} if {
	startswith(input.attributes.source.principal, "spiffe://cluster.local/ns/default/")
	input.attributes.request.http.method in {"GET", "HEAD"}
}
`;

async function compile(rego: string, entrypoint: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'bowline-bench-in-proxy-'));
  writeFileSync(join(dir, 'p.rego'), rego);
  await run(toolPath('opa'), [
    'build',
    '-t',
    'wasm',
    '-e',
    entrypoint,
    '-o',
    join(dir, 'b.tar.gz'),
    join(dir, 'p.rego'),
  ]);
  return readWasmBundle(readFileSync(join(dir, 'b.tar.gz'))).wasm;
}

/** ~20 AuthorizationPolicies in the namespace: one ALLOW per service account and path, a few DENYs. */
function policies() {
  const out = [];
  for (let i = 0; i < 20; i++) {
    const deny = i % 5 === 4;
    out.push(
      normalisePolicy(
        {
          namespace: 'default',
          name: `p${i}`,
          annotations: {},
          resourceVersion: 1,
          spec: {
            selector: { matchLabels: { app: i % 2 === 0 ? 'server' : `svc${i}` } },
            action: deny ? 'DENY' : 'ALLOW',
            rules: [
              {
                from: [
                  {
                    source: {
                      principals: [`cluster.local/ns/default/sa/sa${i}`, 'cluster.local/ns/default/sa/client'],
                    },
                  },
                ],
                to: [
                  { operation: { methods: deny ? ['DELETE'] : ['GET', 'HEAD'], paths: [`/api/v${i}/*`, '/items*'] } },
                ],
              },
            ],
          },
        },
        'istio-system',
      ).policy!,
    );
  }
  return out;
}

function module(wasm: Buffer) {
  return { wasm: wasm.toString('base64'), wasmSha256: createHash('sha256').update(wasm).digest('hex') };
}

function percentiles(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5).toFixed(1), p99: at(0.99).toFixed(1), max: sorted[sorted.length - 1].toFixed(1) };
}

async function measure(label: string, withRego: boolean, istio: Buffer, rego: Buffer, iterations: number) {
  const list = policies();
  const authz = new PolicyAuthorizer({
    local: { namespace: 'default', labels: { app: 'server' } },
    logger: pino({ level: 'silent' }),
    reporter: 'bench',
    decisions: { record: () => undefined },
  });
  await authz.install(
    parseBundle({
      format: BUNDLE_FORMAT,
      revision: 'bench',
      namespace: 'default',
      istio: {
        entrypoint: ISTIO_AUTHZ_ENTRYPOINT,
        ...module(istio),
        data: { istio: { policies: list } },
        version: 1,
        policies: list.map((p) => p.id),
      },
      policy: withRego
        ? { name: 'bench', revision: 1, entrypoint: 'envoy/authz/allow', ...module(rego), data: {} }
        : null,
    }),
  );
  const request: AuthorizationRequest = {
    method: 'GET',
    path: '/items?limit=10',
    host: 'server:8080',
    headers: { host: 'server:8080', 'user-agent': 'curl/8', 'x-request-id': 'abc', authorization: 'Bearer t' },
    protocol: 'HTTP/1.1',
    sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/client',
    destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/server',
    destinationPort: 8080,
  };
  for (let i = 0; i < 500; i++) authz.authorize(request);
  const samples: number[] = [];
  let allowed = 0;
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    if (authz.authorize(request).allowed) allowed += 1;
    samples.push((performance.now() - started) * 1000);
  }
  process.stdout.write(`${label}: ${JSON.stringify({ iterations, allowed, ...percentiles(samples) })} µs\n`);
}

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 20_000);
  const [istio, rego] = await Promise.all([
    compile(ISTIO_AUTHZ_REGO, ISTIO_AUTHZ_ENTRYPOINT),
    compile(REGO, 'envoy/authz/allow'),
  ]);
  await measure('authorize() AuthorizationPolicies (20)', false, istio, rego, iterations);
  await measure('authorize() AuthorizationPolicies (20) + Rego', true, istio, rego, iterations);
}

void main();
