/**
 * In-proxy authorization cost: `PolicyAuthorizer.authorize()` as the inbound listener calls it
 * for every request (the module input, the Istio AuthorizationPolicy module generated for the
 * policies of 20 in the namespace that select the workload, as its bundle holds them, then an
 * opa-envoy-plugin Rego policy; decision logging to an in-memory sink that builds nothing).
 *
 *   npm run build && node dist/bench/policy/in-proxy.js [iterations per round, 20000] [rounds, 5]
 *
 * Prints p50/p99/max in microseconds for the AuthorizationPolicy-only bundle (the workload's,
 * and the namespace's whole set for comparison) and for the bundle with a Rego policy, each on
 * requests the decision cache has not seen (every one evaluated), then a repeated request (a
 * decision kept by the cache), where
 * one decision's time goes (each step timed alone), and the same-run baseline: OPA's own
 * evaluator on the same module and input (`opa bench` per op, `opa eval --metrics` eval time),
 * with the ratios. p50 and p99 are the medians over the rounds (the range of the rounds' p99
 * beside it); the rounds interleave every case. Numbers, never assertions. `BENCH_ONLY=<text>`
 * times only the cases whose label contains <text> (to profile one, with `node --cpu-prof`).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pino from 'pino';
import { istioAttributes, PolicyRuntime, readPlanBundle, readWasmBundle } from '#libs/policy-runtime';
import { toolPath } from '#libs/testing';
import { type GeneratedAuthzModule, generateIstioAuthz } from '../../apps/policy/src/authorization/istio-authz.codegen';
import { type NormalPolicy, normalisePolicy } from '../../apps/policy/src/authorization/normalise';
import { policiesFor } from '../../apps/policy/src/bundles/workload-selection';
import { inputPathsRead, type PolicyPlan } from '../../apps/policy/src/compiler/input-paths';
import type { AuthorizationRequest } from '../../apps/proxy/src/dataplane/authorization';
import { BUNDLE_FORMAT, parseBundle } from '../../apps/proxy/src/policy/bundle';
import { toLogEntry } from '../../apps/proxy/src/policy/decision-log-shipper';
import { attributeSelection, requestAttributes, requestInput, requestKey } from '../../apps/proxy/src/policy/input';
import { DECISION_CACHE_ENTRIES, PolicyAuthorizer } from '../../apps/proxy/src/policy/policy-authorizer';

const run = promisify(execFile);

const REGO = `package envoy.authz

default allow := {"allowed": false, "http_status": 401}

allow := {"allowed": true, "headers": {"x-authz": "ok"}} if {
	startswith(input.attributes.source.principal, "spiffe://cluster.local/ns/default/")
	input.attributes.request.http.method in {"GET", "HEAD"}
}
`;

/** `opa build -t <target>` of `rego` (`optimize`: `-O=1`, as Policy builds the generated module, see OpaCliCompiler); the bundle. */
async function opaBuild(rego: string, entrypoint: string, target: 'wasm' | 'plan', optimize = false): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'bowline-bench-in-proxy-'));
  writeFileSync(join(dir, 'p.rego'), rego);
  const out = join(dir, 'b.tar.gz');
  const args = ['build', '-t', target, '-e', entrypoint, ...(optimize ? ['-O=1'] : []), '-o', out, join(dir, 'p.rego')];
  await run(toolPath('opa'), args);
  return readFileSync(out);
}

async function compile(rego: string, entrypoint: string, optimize = false): Promise<Buffer> {
  return readWasmBundle(await opaBuild(rego, entrypoint, 'wasm', optimize)).wasm;
}

/** The parts of the input `rego` reads, as the policy service finds them (`opa build -t plan`, inputPathsRead). */
async function inputPaths(rego: string, entrypoint: string): Promise<string[][]> {
  const paths = inputPathsRead(readPlanBundle(await opaBuild(rego, entrypoint, 'plan')) as PolicyPlan);
  if (!paths) throw new Error('the bench policy must read named parts of the input');
  return paths.map((path) => [...path]);
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

const LOCAL = { namespace: 'default', labels: { app: 'server' } };
const REQUEST: AuthorizationRequest = {
  method: 'GET',
  path: '/items?limit=10',
  host: 'server:8080',
  headers: { host: 'server:8080', 'user-agent': 'curl/8', 'x-request-id': 'abc', authorization: 'Bearer t' },
  protocol: 'HTTP/1.1',
  sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/client',
  destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/server',
  destinationPort: 8080,
};

/**
 * Requests the decision cache has not seen: the same request on distinct paths (`/items/<n>`,
 * which the policies read), more of them than the cache keeps, taken in turn; keyed by request
 * (a bundle without matchers) each is evaluated, keyed by matchers they all pass the same tests
 * (`prefix: /items`) and share one kept decision. Made up front so that timing them allocates
 * nothing more than REQUEST does.
 */
const FRESH: AuthorizationRequest[] = Array.from({ length: 3 * DECISION_CACHE_ENTRIES }, (_, n) => ({
  ...REQUEST,
  path: `/items/${n}?limit=10`,
}));
let fresh = 0;
const nextFresh = () => FRESH[(fresh = (fresh + 1) % FRESH.length)];

interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

/** Over the rounds: the median p50 and p99, the range of the rounds' p99, the largest sample. */
interface Summary extends Percentiles {
  p99Min: number;
  p99Max: number;
}

/** One round: per-call wall time of `fn` in µs (samples in a preallocated array: the harness allocates nothing per call). */
function round(iterations: number, fn: () => unknown, samples: Float64Array): Percentiles {
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    fn();
    samples[i] = (performance.now() - started) * 1000;
  }
  const sorted = samples.subarray(0, iterations).sort();
  const at = (q: number) => sorted[Math.min(iterations - 1, Math.floor(q * iterations))];
  return { p50: at(0.5), p99: at(0.99), max: sorted[iterations - 1] };
}

/**
 * Times every function of `cases` in `rounds` rounds of `iterations` calls, the cases
 * interleaved within each round, so that a noisy stretch of the shared machine falls on all of
 * them alike rather than on whichever ran then. After a warm-up of 1,000 calls each.
 */
function timedRounds(all: [string, () => unknown][], iterations: number, rounds: number): [string, Summary][] {
  // BENCH_ONLY=<text>: only the cases whose label has it (e.g. to profile one with --cpu-prof).
  const only = process.env.BENCH_ONLY;
  const cases = only ? all.filter(([label]) => label.includes(only)) : all;
  for (const [, fn] of cases) for (let i = 0; i < 1000; i++) fn();
  const samples = new Float64Array(iterations);
  const perCase = cases.map((): Percentiles[] => []);
  for (let r = 0; r < rounds; r++) cases.forEach(([, fn], k) => perCase[k].push(round(iterations, fn, samples)));
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return cases.map(([label], k) => {
    const p99s = perCase[k].map((p) => p.p99);
    return [
      label,
      {
        p50: median(perCase[k].map((p) => p.p50)),
        p99: median(p99s),
        p99Min: Math.min(...p99s),
        p99Max: Math.max(...p99s),
        max: Math.max(...perCase[k].map((p) => p.max)),
      },
    ];
  });
}

async function authorizer(
  list: NormalPolicy[],
  istio: Buffer,
  generated: GeneratedAuthzModule,
  labels: Record<string, string> | null,
  rego: Buffer | null,
  cacheEntries?: number,
  /** Whether the bundle lists its matchers (as the policy service's do): decisions kept by matcherKey, else requestKey. */
  matchers = true,
  /** The Rego policy's inputPaths (as the policy service sends them), or none: every request evaluated on the whole input. */
  regoInputPaths?: string[][],
): Promise<PolicyAuthorizer> {
  const authz = new PolicyAuthorizer({
    local: LOCAL,
    logger: pino({ level: 'silent' }),
    reporter: 'bench',
    decisions: { record: () => undefined },
    cacheEntries,
  });
  await authz.install(
    parseBundle({
      format: BUNDLE_FORMAT,
      revision: 'bench',
      namespace: 'default',
      labels,
      istio: {
        entrypoint: generated.entrypoint,
        ...module(istio),
        data: {},
        headers: generated.headers,
        attributes: generated.attributes,
        outcomes: generated.outcomes,
        ...(matchers ? { matchers: generated.matchers } : {}),
        version: 1,
        policies: list.map((p) => p.id),
      },
      policy: rego
        ? {
            name: 'bench',
            revision: 1,
            entrypoint: 'envoy/authz/allow',
            ...module(rego),
            data: {},
            ...(regoInputPaths ? { inputPaths: regoInputPaths } : {}),
          }
        : null,
    }),
  );
  if (!authz.authorize(REQUEST).allowed) throw new Error('the bench request must be allowed');
  return authz;
}

/** OPA's own evaluator (Go, prepared query) on the same module and input: `opa bench` and `opa eval --metrics`. */
async function opaBaseline(rego: string, input: unknown): Promise<{ benchMicros: number; evalP50Micros: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bowline-bench-in-proxy-opa-'));
  writeFileSync(join(dir, 'authz.rego'), rego);
  writeFileSync(join(dir, 'input.json'), JSON.stringify(input));
  const args = ['-d', join(dir, 'authz.rego'), '-i', join(dir, 'input.json'), 'data.bowline.istio.authz.decision'];
  const opa = toolPath('opa');
  const { stdout } = await run(opa, ['bench', '--format', 'json', ...args], { maxBuffer: 16 << 20 });
  const bench = JSON.parse(stdout) as { N: number; T: number };
  const evals: number[] = [];
  for (let i = 0; i < 20; i++) {
    const { stdout: out } = await run(opa, ['eval', '--metrics', '--format', 'json', ...args]);
    evals.push((JSON.parse(out) as { metrics: { timer_rego_query_eval_ns: number } }).metrics.timer_rego_query_eval_ns);
  }
  evals.sort((a, b) => a - b);
  return { benchMicros: bench.T / bench.N / 1000, evalP50Micros: evals[10] / 1000 };
}

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 20_000);
  const rounds = Number(process.argv[3] ?? 5);
  // The bundle the sidecar gets (`?labels=app=server`: the 10 policies selecting it), and the
  // namespace's whole set (a proxy that sends no labels).
  const all = policies();
  const selected = policiesFor(all, LOCAL.namespace, LOCAL.labels);
  // As BundlesService makes them: compact decisions; the workload's module checks no scope.
  const generated = generateIstioAuthz(selected, { compact: true, scoped: false });
  const whole = generateIstioAuthz(all, { compact: true });
  const [istio, istioWhole, rego] = await Promise.all([
    compile(generated.rego, generated.entrypoint, true),
    compile(whole.rego, whole.entrypoint, true),
    compile(REGO, 'envoy/authz/allow'),
  ]);
  // Without matchers, requests on distinct paths have distinct keys: each is evaluated.
  const only = await authorizer(selected, istio, generated, LOCAL.labels, null, undefined, false);
  const classes = await authorizer(selected, istio, generated, LOCAL.labels, null);
  const uncached = await authorizer(selected, istio, generated, LOCAL.labels, null, 0);
  const onlyWhole = await authorizer(all, istioWhole, whole, null, null, undefined, false);
  const withRego = await authorizer(selected, istio, generated, LOCAL.labels, rego, undefined, false);
  const reads = await inputPaths(REGO, 'envoy/authz/allow');
  const regoOnReads = await authorizer(selected, istio, generated, LOCAL.labels, rego, 0, false, reads);
  const regoKept = await authorizer(selected, istio, generated, LOCAL.labels, rego, undefined, true, reads);
  const n = `${selected.length} of ${all.length}`;
  // Where one decision's time goes: each step alone, on the same request.
  const input = requestInput(REQUEST, LOCAL);
  const selection = attributeSelection(generated.attributes);
  const attributes = requestAttributes(REQUEST, LOCAL, generated.headers, selection);
  const runtime = await PolicyRuntime.load(istio, { entrypoint: generated.entrypoint });
  const timed = timedRounds(
    [
      [`authorize(), ${n} AuthorizationPolicies (workload)`, () => only.authorize(nextFresh())],
      [`authorize(), ${all.length} (namespace bundle, no labels)`, () => onlyWhole.authorize(nextFresh())],
      [`authorize(), ${n} AuthorizationPolicies + Rego`, () => withRego.authorize(nextFresh())],
      [`  + Rego on the parts it reads (cache off)`, () => regoOnReads.authorize(nextFresh())],
      [`  + Rego, both decisions kept (/items/<n>)`, () => regoKept.authorize(nextFresh())],
      [`authorize(), ${n}, a decision kept (cache hit)`, () => classes.authorize(REQUEST)],
      [`authorize(), ${n}, cache off (PROXY_AUTHZ_CACHE_ENTRIES=0)`, () => uncached.authorize(nextFresh())],
      [`authorize(), ${n}, /items/<n> kept by matcher key`, () => classes.authorize(nextFresh())],
      ['  requestInput (opa-envoy input document)', () => requestInput(REQUEST, LOCAL)],
      ['  istioAttributes (the module input, from it)', () => istioAttributes(input, generated.headers)],
      [
        '  requestAttributes (the module input, no document)',
        () => requestAttributes(REQUEST, LOCAL, generated.headers, selection),
      ],
      ['  requestKey (what a kept decision is found by)', () => requestKey(REQUEST, generated.headers, selection)],
      ['  PolicyRuntime.evaluateValue (wasm, generated module)', () => runtime.evaluateValue(attributes)],
      [
        '  a decision-log entry (input built, masked, JSON)',
        () =>
          JSON.stringify(
            toLogEntry({
              time: Date.now(),
              path: generated.entrypoint,
              input: () => requestInput(REQUEST, LOCAL, new Date()),
              result: true,
              allowed: true,
              reason: 'allowed',
              reporter: 'proxy:server.default',
              metrics: { timer_rego_query_eval_ns: 0 },
            }),
          ),
      ],
    ],
    iterations,
    rounds,
  );
  const fmt = (n: number) => `${n.toFixed(1)} µs`;
  const line = ([label, p]: [string, Summary]) =>
    `${label.padEnd(54)} p50 ${fmt(p.p50).padStart(9)}  p99 ${fmt(p.p99).padStart(9)} ` +
    `(rounds ${p.p99Min.toFixed(1)}–${p.p99Max.toFixed(1)})  max ${fmt(p.max).padStart(10)}`;
  if (process.env.BENCH_ONLY) {
    process.stdout.write(`${timed.map(line).join('\n')}\n`);
    return;
  }
  const results = timed.slice(0, 8);
  const steps = timed.slice(8);
  const opa = await opaBaseline(generated.rego, attributes);
  const [ap] = results;
  process.stdout.write(
    [
      `${rounds} rounds of ${iterations} decisions each, interleaved; medians of the rounds (allowed by ` +
        `default/p0, rule 0; generated module ${generated.rego.length} bytes of Rego for the workload, ` +
        `${whole.rego.length} for the namespace)`,
      ...results.map(line),
      'where the time goes (each step alone):',
      ...steps.map(line),
      `opa bench (Go topdown, prepared query, same module and input): ${fmt(opa.benchMicros)} per op`,
      `opa eval --metrics timer_rego_query_eval_ns p50:               ${fmt(opa.evalP50Micros)} (one cold evaluation per process)`,
      `ratios: authorize p50 / opa bench = ${(ap[1].p50 / opa.benchMicros).toFixed(2)}; ` +
        `authorize p99 / opa bench = ${(ap[1].p99 / opa.benchMicros).toFixed(2)}; ` +
        `wasm evaluate p50 / opa bench = ${(steps[4][1].p50 / opa.benchMicros).toFixed(2)}; ` +
        `authorize p50 / opa eval = ${(ap[1].p50 / opa.evalP50Micros).toFixed(2)}`,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
