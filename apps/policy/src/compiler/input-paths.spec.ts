import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { inputTree, PolicyRuntime, pruneInput, readPlanBundle, readWasmBundle } from '#libs/policy-runtime';
import { toolPath } from '#libs/testing';
import { inputPathsRead, type PolicyPlan } from './input-paths';

const run = promisify(execFile);

/** Policies (package envoy.authz, decision `allow`) and the parts of the input each reads (null: any). */
const POLICIES: { name: string; rego: string; reads: string[][] | null }[] = [
  {
    name: 'principal and method',
    rego: `allow if {
	startswith(input.attributes.source.principal, "spiffe://cluster.local/ns/default/")
	input.attributes.request.http.method in {"GET", "HEAD"}
}`,
    reads: [
      ['attributes', 'source', 'principal'],
      ['attributes', 'request', 'http', 'method'],
    ],
  },
  {
    name: 'RBAC: roles from data, globs on the path, deny rules, rules holding parts of the input',
    rego: `principal := input.attributes.source.principal
method := input.attributes.request.http.method
path := concat("/", ["", concat("/", input.parsed_path)])
headers := input.attributes.request.http.headers
roles contains role if some role in data.bindings[principal]
roles contains "anonymous" if not principal
granted if {
	some role in roles
	some grant in data.grants[role]
	method in grant.methods
	glob.match(grant.path, ["/"], path)
}
denied if {
	some prefix in data.blocked
	startswith(path, prefix)
}
denied if input.bowline.source.namespace == "quarantine"
denied if {
	headers["x-debug"] == "true"
	not "admin" in roles
}
allow if {
	granted
	not denied
}`,
    reads: [
      ['parsed_path'],
      ['attributes', 'source', 'principal'],
      ['bowline', 'source', 'namespace'],
      ['attributes', 'request', 'http', 'headers', 'x-debug'],
      ['attributes', 'request', 'http', 'method'],
    ],
  },
  {
    name: "opa-envoy's alias of the request (http_request := input.attributes.request.http)",
    rego: `http_request := input.attributes.request.http
allow if {
	http_request.method == "GET"
	http_request.headers["x-allow-me"] == "yes"
}`,
    reads: [
      ['attributes', 'request', 'http', 'method'],
      ['attributes', 'request', 'http', 'headers', 'x-allow-me'],
    ],
  },
  {
    name: 'a header that only has to be there (its lookup tests it)',
    rego: `allow if {
	input.attributes.request.http.headers["x-allow-me"] = _
	input.attributes.request.http.method == "GET"
}`,
    reads: [
      ['attributes', 'request', 'http', 'method'],
      ['attributes', 'request', 'http', 'headers', 'x-allow-me'],
    ],
  },
  {
    name: 'an import of the request, a negated header, a set built from the query',
    rego: `import input.attributes.request.http as http_request
debug_flags contains flag if some flag in input.parsed_query.debug
allow if {
	not http_request.headers["x-block"]
	http_request.method == "GET"
}
allow if "1" in debug_flags`,
    reads: [
      ['parsed_query', 'debug'],
      ['attributes', 'request', 'http', 'method'],
      ['attributes', 'request', 'http', 'headers', 'x-block'],
    ],
  },
  {
    name: 'a rule set two ways (the two values are compared: read whole)',
    rego: `v := input.parsed_query if input.attributes.request.http.method == "GET"
v := input.bowline.source if input.attributes.request.http.method != "POST"
allow if v.namespace == "default"`,
    reads: [['parsed_query'], ['bowline', 'source'], ['attributes', 'request', 'http', 'method']],
  },
  {
    name: 'a header by name, through a function taking a part of the input',
    rego: `bearer(h) := substring(h, 7, -1) if startswith(h, "Bearer ")
claims := io.jwt.decode(bearer(input.attributes.request.http.headers.authorization))[1]
allow if claims.sub == "alice"
allow if input.parsed_query.debug[0] == "1"`,
    reads: [
      ['parsed_query', 'debug'],
      ['attributes', 'request', 'http', 'headers', 'authorization'],
    ],
  },
  {
    name: 'iterating over the headers',
    rego: `allow if {
	some name, value in input.attributes.request.http.headers
	startswith(name, "x-allow")
	value == "yes"
}`,
    reads: [['attributes', 'request', 'http', 'headers']],
  },
  {
    name: 'a key taken from data',
    rego: `allow if input.attributes.request.http.headers[data.header] == "1"`,
    reads: [['attributes', 'request', 'http', 'headers']],
  },
  {
    name: 'else, and a part counted',
    rego: `allow := true if {
	count(input.parsed_path) > 1
} else := false if {
	input.attributes.request.http.method == "DELETE"
} else := input.attributes.request.http.method == "GET"`,
    reads: [['parsed_path'], ['attributes', 'request', 'http', 'method']],
  },
  {
    name: 'a part passed whole to a built-in',
    rego: `allow if object.get(input.attributes, ["source", "principal"], "") != ""`,
    reads: [['attributes']],
  },
  {
    name: 'the whole input to a built-in',
    rego: `allow if {
	json.marshal(input) != ""
	input.attributes.request.http.method == "GET"
}`,
    reads: null,
  },
  {
    name: 'with on the input',
    rego: `get if input.attributes.request.http.method == "GET"
allow if get with input.attributes.request.http.method as "GET"`,
    reads: null,
  },
  {
    name: 'the input compared whole',
    rego: `allow if input != {}`,
    reads: null,
  },
];

const PRINCIPALS = ['spiffe://cluster.local/ns/default/sa/a', 'spiffe://cluster.local/ns/shop/sa/b', undefined];
const METHODS = ['GET', 'DELETE', 'POST'];
const PATHS = [['api', 'items', '1'], ['healthz'], []];
const TOKEN = `Bearer ${['{"alg":"none"}', '{"sub":"alice"}'].map((p) => Buffer.from(p).toString('base64url')).join('.')}.x`;

/** opa-envoy input documents differing in every part the policies read, and in parts none reads. */
function inputs(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let n = 0;
  for (const principal of PRINCIPALS)
    for (const method of METHODS)
      for (const parsed of PATHS) {
        n += 1;
        const headers: Record<string, string> = { 'x-request-id': `id-${n}`, host: 'server' };
        if (n % 2 === 0) headers['x-debug'] = 'true';
        if (n % 3 === 0) headers.authorization = TOKEN;
        if (n % 5 === 0) headers['x-allow-me'] = 'yes';
        if (n % 7 === 0) headers.h = '1';
        if (n % 4 === 1) headers['x-block'] = n % 8 === 1 ? 'true' : 'false';
        out.push({
          attributes: {
            request: {
              time: new Date(1_800_000_000_000 + n).toISOString(),
              http: { method, headers, path: `/${parsed.join('/')}` },
            },
            ...(principal ? { source: { principal } } : {}),
            destination: { principal: 'spiffe://cluster.local/ns/default/sa/server' },
          },
          parsed_path: parsed,
          parsed_query: n % 4 === 0 ? { debug: ['1'] } : {},
          bowline: { source: { namespace: n % 6 === 0 ? 'quarantine' : 'default' } },
        });
      }
  return out;
}

const DATA = {
  header: 'h',
  bindings: { 'spiffe://cluster.local/ns/default/sa/a': ['reader', 'admin'] },
  grants: { reader: [{ methods: ['GET'], path: '/api/**' }], admin: [{ methods: ['DELETE'], path: '/api/*/*' }] },
  blocked: ['/internal'],
};

describe('the parts of the input a compiled policy reads (inputPathsRead, on OPA plans)', () => {
  const built = new Map<string, { plan: PolicyPlan; runtime: PolicyRuntime }>();

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bowline-input-paths-'));
    const opa = toolPath('opa');
    await Promise.all(
      POLICIES.map(async ({ rego }, i) => {
        const file = join(dir, `p${i}.rego`);
        writeFileSync(file, `package envoy.authz\n\n${rego}\n`);
        const out = (target: string) => join(dir, `p${i}.${target}.tar.gz`);
        const build = (target: string) =>
          run(opa, ['build', '-t', target, '-e', 'envoy/authz/allow', '-o', out(target), file]);
        await build('wasm');
        await build('plan');
        const plan = readPlanBundle(readFileSync(out('plan'))) as PolicyPlan;
        const runtime = await PolicyRuntime.load(readWasmBundle(readFileSync(out('wasm'))).wasm, { data: DATA });
        built.set(POLICIES[i].name, { plan, runtime });
      }),
    );
  });

  for (const { name, reads } of POLICIES) {
    it(`${name}: ${reads === null ? 'any part' : reads.map((r) => r.join('.')).join(', ')}`, () => {
      const found = inputPathsRead(built.get(name)!.plan);
      const sorted = (paths: readonly (readonly string[])[] | null) =>
        paths === null ? null : paths.map((p) => p.join('.')).sort();
      assert.deepEqual(sorted(found), sorted(reads));
    });
  }

  it('every policy decides on the input cut down to those parts as on the whole input', () => {
    const documents = inputs();
    let compared = 0;
    let allowed = 0;
    for (const { name } of POLICIES) {
      const { plan, runtime } = built.get(name)!;
      const paths = inputPathsRead(plan);
      if (paths === null) continue;
      const tree = inputTree(paths);
      for (const input of documents) {
        const whole = runtime.evaluateValue(input);
        const cut = runtime.evaluateValue(pruneInput(input, tree));
        assert.deepEqual(cut, { ...whole, durationMicros: cut.durationMicros }, `${name} on ${JSON.stringify(input)}`);
        compared += 1;
        if (whole.result === true) allowed += 1;
      }
    }
    assert.ok(compared >= 11 * 27 && allowed > 20 && allowed < compared - 20, `${allowed} of ${compared} allowed`);
  });
});
