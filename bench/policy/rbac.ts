/**
 * Per-decision latency of libs/policy-runtime (wasm, reused instance) against OPA's own
 * evaluator, on a ~20-rule RBAC policy by SPIFFE principal and path.
 *
 *   npm run build && node dist/bench/policy/rbac.js [iterations]
 *
 * Prints p50/p99 of `PolicyRuntime.evaluate` (input building included) as Bowline runs it (the
 * heap kept between evaluations), as opa-wasm does (reset before each), and as a sidecar does
 * (on the parts of the input the policy reads, found in OPA's plan), OPA's `opa bench`
 * ns/op, and `opa eval --metrics` eval time; then the ratios. Numbers, never assertions.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { buildInput, inputTree, PolicyRuntime, pruneInput, readPlanBundle, readWasmBundle } from '#libs/policy-runtime';
import { toolPath } from '#libs/testing';
import { inputPathsRead, type PolicyPlan } from '../../apps/policy/src/compiler/input-paths';

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
  const wasm = readWasmBundle(readFileSync(join(dir, 'b.tar.gz'))).wasm;
  // As Bowline runs it (the heap, and the module's compiled glob patterns, kept between
  // evaluations) and as opa-wasm runs it (the heap reset before every evaluation).
  const kept = await PolicyRuntime.load(wasm, { data: data() });
  const reset = await PolicyRuntime.load(wasm, { data: data(), heapResetBytes: 0 });
  // The parts of the input the policy reads, as the policy service finds them: what a sidecar
  // evaluates it on (and keeps its decisions by; every decision here is evaluated).
  await run(opa, ['build', '-t', 'plan', '-e', 'envoy/authz/allow', '-o', join(dir, 'p.tar.gz'), module]);
  const paths = inputPathsRead(readPlanBundle(readFileSync(join(dir, 'p.tar.gz'))) as PolicyPlan);
  if (!paths) throw new Error('the bench policy must read named parts of the input');
  const tree = inputTree(paths);

  const requests = SERVICES.flatMap((sa) => [
    { source: `spiffe://cluster.local/ns/shop/sa/${sa}`, method: 'GET', path: '/api/products/42?x=1' },
    { source: `spiffe://cluster.local/ns/shop/sa/${sa}`, method: 'POST', path: '/api/orders/7' },
  ]);
  writeFileSync(inputFile, JSON.stringify(buildInput(requests[0])));
  let allowed = 0;
  const time = (runtime: PolicyRuntime, record: boolean, parts = false): number[] => {
    const samples: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const started = performance.now();
      const input = buildInput(requests[i % requests.length]);
      const evaluation = parts
        ? runtime.evaluateJson(JSON.stringify(pruneInput(input, tree)))
        : runtime.evaluate(input);
      samples.push((performance.now() - started) * 1000);
      if (record && evaluation.decision.allowed) allowed++;
    }
    return samples.sort((a, b) => a - b);
  };
  // Warm-up (wasm tier-up), then rounds taken in turn: a noisy stretch lands on both alike.
  time(kept, false);
  time(reset, false);
  time(kept, false, true);
  const rounds: { kept: number[]; reset: number[]; parts: number[] }[] = [];
  for (let round = 0; round < 5; round++)
    rounds.push({ kept: time(kept, round === 0), reset: time(reset, false), parts: time(kept, false, true) });
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const summary = (which: 'kept' | 'reset' | 'parts') => ({
    p50: median(rounds.map((r) => percentile(r[which], 50))),
    p99: median(rounds.map((r) => percentile(r[which], 99))),
  });
  const { p50, p99 } = summary('kept');
  const opaWasm = summary('reset');
  const onParts = summary('parts');

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
      `policy-runtime (wasm, reused instance, input building included), 5 rounds of ${iterations} decisions (${allowed} of a round allowed), medians of the rounds:`,
      `  heap kept between evaluations (Bowline):       p50 ${fmt(p50)}   p99 ${fmt(p99)}`,
      `  heap reset before each one (as opa-wasm):      p50 ${fmt(opaWasm.p50)}   p99 ${fmt(opaWasm.p99)}`,
      `  heap kept, on the parts it reads (a sidecar):  p50 ${fmt(onParts.p50)}   p99 ${fmt(onParts.p99)}  (${paths.map((path) => path.join('.')).join(', ')})`,
      `opa bench (Go topdown, prepared query):          ${fmt(opaBenchMicros)} per op`,
      `opa eval --metrics timer_rego_query_eval_ns p50: ${fmt(opaEvalP50)}  (one cold evaluation per process)`,
      `ratios: kept / reset p50 = ${(p50 / opaWasm.p50).toFixed(2)}, p99 = ${(p99 / opaWasm.p99).toFixed(2)}`,
      `        runtime p50 / opa bench = ${(p50 / opaBenchMicros).toFixed(2)}; runtime p99 / opa bench = ${(p99 / opaBenchMicros).toFixed(2)}; runtime p50 / opa eval = ${(p50 / opaEvalP50).toFixed(2)}`,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
