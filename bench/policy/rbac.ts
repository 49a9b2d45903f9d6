/**
 * Per-decision latency of libs/policy-runtime (wasm, reused instance) against OPA's own
 * evaluator, on a ~20-rule RBAC policy by SPIFFE principal and path.
 *
 *   npm run build && node dist/bench/policy/rbac.js [iterations]
 *
 * Prints p50/p99 of `PolicyRuntime.evaluate` (input building included), OPA's `opa bench`
 * ns/op, and `opa eval --metrics` eval time; then the ratios. Numbers, never assertions.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { buildInput, PolicyRuntime, readWasmBundle } from '#libs/policy-runtime';
import { toolPath } from '#libs/testing';

const run = promisify(execFile);
const SERVICES = ['frontend', 'checkout', 'cart', 'payments', 'shipping', 'catalog', 'reviews', 'admin'];

/** ~20 rules: deny-overrides, role bindings by principal, path/method grants, namespace and header conditions. */
const POLICY = `package envoy.authz

default allow := false

principal := input.attributes.source.principal
method := input.attributes.request.http.method
path := concat("/", ["", concat("/", input.parsed_path)])
headers := input.attributes.request.http.headers

roles contains role if some role in data.bindings[principal]
roles contains "anonymous" if not principal
roles contains "mesh" if startswith(principal, "spiffe://cluster.local/")

granted if {
	some role in roles
	some grant in data.grants[role]
	method in grant.methods
	glob.match(grant.path, ["/"], path)
}

denied if {
	some prefix in data.blocked_paths
	startswith(path, prefix)
}

denied if input.bowline.source.namespace in data.blocked_namespaces

denied if {
	method == "DELETE"
	not "admin" in roles
}

denied if {
	headers["x-debug"] == "true"
	not "admin" in roles
}

denied if count(path) > 512

allow if {
	granted
	not denied
}
`;

function data(): object {
  const bindings: Record<string, string[]> = {};
  for (const sa of SERVICES)
    bindings[`spiffe://cluster.local/ns/shop/sa/${sa}`] = [sa === 'admin' ? 'admin' : 'reader'];
  bindings['spiffe://cluster.local/ns/shop/sa/checkout'].push('writer');
  return {
    bindings,
    grants: {
      reader: [
        { methods: ['GET', 'HEAD'], path: '/api/products/*' },
        { methods: ['GET'], path: '/api/reviews/*' },
      ],
      writer: [{ methods: ['POST', 'PUT'], path: '/api/orders/*' }],
      admin: [{ methods: ['GET', 'POST', 'PUT', 'DELETE'], path: '/api/**' }],
      mesh: [{ methods: ['GET'], path: '/healthz' }],
    },
    blocked_paths: ['/api/internal/'],
    blocked_namespaces: ['quarantine'],
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 20_000);
  const dir = mkdtempSync(join(tmpdir(), 'bowline-bench-'));
  const module = join(dir, 'authz.rego');
  const dataFile = join(dir, 'data.json');
  const inputFile = join(dir, 'input.json');
  writeFileSync(module, POLICY);
  writeFileSync(dataFile, JSON.stringify(data()));
  const opa = toolPath('opa');
  await run(opa, ['build', '-t', 'wasm', '-e', 'envoy/authz/allow', '-o', join(dir, 'b.tar.gz'), module]);
  const runtime = await PolicyRuntime.load(readWasmBundle(readFileSync(join(dir, 'b.tar.gz'))).wasm, { data: data() });

  const requests = SERVICES.flatMap((sa) => [
    { source: `spiffe://cluster.local/ns/shop/sa/${sa}`, method: 'GET', path: '/api/products/42?x=1' },
    { source: `spiffe://cluster.local/ns/shop/sa/${sa}`, method: 'POST', path: '/api/orders/7' },
  ]);
  writeFileSync(inputFile, JSON.stringify(buildInput(requests[0])));
  const samples: number[] = [];
  let allowed = 0;
  for (let i = 0; i < iterations + 1000; i++) {
    const started = performance.now();
    const evaluation = runtime.evaluate(buildInput(requests[i % requests.length]));
    const micros = (performance.now() - started) * 1000;
    if (i >= 1000) samples.push(micros); // after warm-up
    if (evaluation.decision.allowed) allowed++;
  }
  samples.sort((a, b) => a - b);
  const [p50, p99] = [percentile(samples, 50), percentile(samples, 99)];

  const { stdout: benchOut } = await run(
    opa,
    ['bench', '--format', 'json', '-d', module, '-d', dataFile, '-i', inputFile, 'data.envoy.authz.allow'],
    { maxBuffer: 16 << 20 },
  );
  const bench = JSON.parse(benchOut) as { N: number; T: number };
  const opaBenchMicros = bench.T / bench.N / 1000;
  const evalTimes: number[] = [];
  for (let i = 0; i < 20; i++) {
    const { stdout } = await run(opa, [
      'eval',
      '--metrics',
      '--format',
      'json',
      '-d',
      module,
      '-d',
      dataFile,
      '-i',
      inputFile,
      'data.envoy.authz.allow',
    ]);
    evalTimes.push(JSON.parse(stdout).metrics.timer_rego_query_eval_ns / 1000);
  }
  evalTimes.sort((a, b) => a - b);
  const opaEvalP50 = percentile(evalTimes, 50);

  const fmt = (n: number) => `${n.toFixed(1)} µs`;
  process.stdout.write(
    [
      `policy-runtime (wasm, reused instance, input building included), ${iterations} decisions, ${allowed} allowed:`,
      `  p50 ${fmt(p50)}   p99 ${fmt(p99)}`,
      `opa bench (Go topdown, prepared query):          ${fmt(opaBenchMicros)} per op`,
      `opa eval --metrics timer_rego_query_eval_ns p50: ${fmt(opaEvalP50)}  (one cold evaluation per process)`,
      `ratios: runtime p50 / opa bench = ${(p50 / opaBenchMicros).toFixed(2)}; runtime p99 / opa bench = ${(p99 / opaBenchMicros).toFixed(2)}; runtime p50 / opa eval = ${(p50 / opaEvalP50).toFixed(2)}`,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
