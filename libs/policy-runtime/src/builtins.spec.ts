import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { constants, createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { toolPath } from '#libs/testing';
import { HOST_BUILTINS, PolicyRuntime, readWasmBundle } from './index';

const run = promisify(execFile);

function jwt(header: object, payload: object, signer: (input: Buffer) => Buffer): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc(header)}.${enc(payload)}`;
  return `${input}.${signer(Buffer.from(input)).toString('base64url')}`;
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ecJwks = JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }] });
const otherJwks = JSON.stringify({ keys: [{ ...otherEc.publicKey.export({ format: 'jwk' }), kid: 'k1' }] });
const NOW_S = 1_800_000_000;
const claims = { sub: 'alice', iss: 'https://issuer.example', aud: ['api', 'web'], exp: NOW_S + 3600, nbf: NOW_S - 60 };
const rs256 = jwt({ alg: 'RS256', typ: 'JWT' }, claims, (i) => sign('sha256', i, rsa.privateKey));
const es256 = jwt({ alg: 'ES256', kid: 'k1' }, claims, (i) =>
  sign('sha256', i, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }),
);
const hs256 = jwt({ alg: 'HS256' }, { ...claims, aud: 'api' }, (i) =>
  createHmac('sha256', 'sekrit').update(i).digest(),
);
const ps256 = jwt({ alg: 'PS256' }, claims, (i) =>
  sign('sha256', i, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }),
);
const expired = jwt({ alg: 'HS256' }, { ...claims, exp: NOW_S - 1 }, (i) =>
  createHmac('sha256', 'sekrit').update(i).digest(),
);
const t = (s: number) => s * 1e9;

/** Rego expressions; each becomes `rN := <expr>` and is compared with `opa eval` on the same module. */
const CASES: string[] = [
  `crypto.sha256("hello")`,
  `crypto.sha1("hello")`,
  `crypto.md5("hello")`,
  `crypto.hmac.sha256("message", "key")`,
  `crypto.hmac.sha1("message", "key")`,
  `crypto.hmac.sha512("message", "key")`,
  `crypto.hmac.md5("message", "key")`,
  `crypto.hmac.equal("abc", "abc")`,
  `crypto.hmac.equal("abc", "abd")`,
  `hex.encode("héllo")`,
  `hex.decode("68656c6c6f")`,
  `hex.decode("zz")`,
  `base64url.encode_no_pad("hello??")`,
  `urlquery.encode("a b&c=d/é!*'()~")`,
  `urlquery.decode("a+b%26c%3Dd%2F%C3%A9")`,
  `urlquery.decode("%zz")`,
  `urlquery.encode_object({"b": "x y", "a": ["1", "2"], "c": {"s"}})`,
  `urlquery.decode_object("a=1&a=2&b=x+y&c")`,
  `net.cidr_is_valid("10.0.0.0/8")`,
  `net.cidr_is_valid("2001:db8::/32")`,
  `net.cidr_is_valid("10.0.0.0/33")`,
  `net.cidr_is_valid("10.0.0.0")`,
  `net.cidr_is_valid("not-a-cidr/8")`,
  `units.parse_bytes("10KiB")`,
  `units.parse_bytes("1.5 GB")`,
  `units.parse_bytes("1.5GB")`,
  `units.parse_bytes("\\"3mib\\"")`,
  `units.parse_bytes("42")`,
  `units.parse_bytes("3 mib")`,
  `units.parse_bytes("8EiB")`,
  `units.parse_bytes("12 parsecs")`,
  `semver.compare("1.2.3", "1.2.4")`,
  `semver.compare("1.0.0-alpha.1", "1.0.0-alpha.beta")`,
  `semver.compare("1.0.0-rc.1", "1.0.0")`,
  `semver.compare("2.0.0+build.5", "2.0.0")`,
  `semver.compare("1.10.0", "1.9.9")`,
  `semver.compare("v1.0.0", "1.0.0")`,
  `semver.is_valid("1.0.0-rc.1+b.2")`,
  `semver.is_valid("01.0.0")`,
  `time.parse_rfc3339_ns("2024-02-29T12:34:56Z")`,
  `time.parse_rfc3339_ns("2024-02-29T12:34:56.123456789+02:00")`,
  `time.parse_rfc3339_ns("2024-02-30T00:00:00Z")`,
  `time.parse_duration_ns("1h30m")`,
  `time.parse_duration_ns("-1.5s")`,
  `time.parse_duration_ns("300ms")`,
  `time.parse_duration_ns("1d")`,
  `time.parse_duration_ns("1.5d2w1y")`,
  `semver.is_valid("v1.0.0")`,
  `strings.any_prefix_match("foo/bar", ["x", "foo/"])`,
  `strings.any_suffix_match(["a.txt", "b.md"], {".go", ".md"})`,
  `io.jwt.decode("${rs256}")`,
  `io.jwt.decode("not.a-token")`,
  `io.jwt.decode_verify("${rs256}", {"cert": ${JSON.stringify(rsaPem)}, "time": ${t(NOW_S)}, "aud": "api"})`,
  `io.jwt.decode_verify("${rs256}", {"cert": ${JSON.stringify(rsaPem)}, "time": ${t(NOW_S)}})`,
  `io.jwt.decode_verify("${rs256}", {"cert": ${JSON.stringify(ecPem)}, "time": ${t(NOW_S)}, "aud": "api"})`,
  `io.jwt.decode_verify("${es256}", {"cert": ${JSON.stringify(ecJwks)}, "time": ${t(NOW_S)}, "aud": "web", "iss": "https://issuer.example"})`,
  `io.jwt.decode_verify("${es256}", {"cert": ${JSON.stringify(otherJwks)}, "time": ${t(NOW_S)}, "aud": "web"})`,
  `io.jwt.decode_verify("${es256}", {"cert": ${JSON.stringify(ecJwks)}, "time": ${t(NOW_S)}, "aud": "web", "iss": "other"})`,
  `io.jwt.decode_verify("${hs256}", {"secret": "sekrit", "time": ${t(NOW_S)}, "aud": "api", "alg": "HS256"})`,
  `io.jwt.decode_verify("${hs256}", {"secret": "sekrit", "time": ${t(NOW_S)}, "aud": "api", "alg": "RS256"})`,
  `io.jwt.decode_verify("${hs256}", {"secret": "wrong", "time": ${t(NOW_S)}, "aud": "api"})`,
  `io.jwt.decode_verify("${hs256}", {"secret": "sekrit", "time": ${t(NOW_S - 3600)}, "aud": "api"})`,
  `io.jwt.decode_verify("${expired}", {"secret": "sekrit", "time": ${t(NOW_S)}, "aud": "api"})`,
  `io.jwt.decode_verify("${hs256}", {"secret": "sekrit", "cert": "x"})`,
  `io.jwt.decode_verify("${hs256}", {"secret": "sekrit", "bogus": 1})`,
  `io.jwt.verify_rs256("${rs256}", ${JSON.stringify(rsaPem)})`,
  `io.jwt.verify_rs256("${es256}", ${JSON.stringify(rsaPem)})`,
  `io.jwt.verify_es256("${es256}", ${JSON.stringify(ecPem)})`,
  `io.jwt.verify_hs256("${hs256}", "sekrit")`,
  `io.jwt.verify_ps256("${ps256}", ${JSON.stringify(rsaPem)})`,
  `io.jwt.verify_hs256("${hs256}", "nope")`,
];

describe('host built-ins agree with opa eval', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bowline-builtins-'));
  const module = join(dir, 'cases.rego');
  let runtime: PolicyRuntime;
  let reference: Record<string, unknown>;

  before(async () => {
    const rules = CASES.map((expr, i) => `r${i} := ${expr}`).join('\n');
    writeFileSync(module, `package cases\n\n${rules}\n`);
    const bundle = join(dir, 'bundle.tar.gz');
    await run(toolPath('opa'), ['build', '-t', 'wasm', '-e', 'cases', '-o', bundle, module]);
    runtime = await PolicyRuntime.load(readWasmBundle(readFileSync(bundle)).wasm);
    const { stdout } = await run(toolPath('opa'), ['eval', '--format', 'json', '-d', module, 'data.cases'], {
      maxBuffer: 16 << 20,
    });
    reference = JSON.parse(stdout).result[0].expressions[0].value;
  });

  it('covers every host built-in except the clock', () => {
    const called = new Set(CASES.map((c) => /^[\w.]+/.exec(c)![0]));
    const untested = HOST_BUILTINS.filter(
      (name) => !called.has(name) && name !== 'time.now_ns' && !/^io\.jwt\.verify_(rs|es|hs|ps)(384|512)$/.test(name),
    );
    assert.deepEqual(untested, []);
  });

  CASES.forEach((expr, i) => {
    it(expr.length > 90 ? `${expr.slice(0, 90)}…` : expr, () => {
      const ours = (runtime.query({}, 'cases')[0] as { result: Record<string, unknown> }).result;
      assert.deepEqual(ours[`r${i}`], reference[`r${i}`]);
    });
  });

  it('time.now_ns reads the injected clock once per evaluation', async () => {
    writeFileSync(join(dir, 'now.rego'), 'package now\n\nr := [time.now_ns(), time.now_ns()]\n');
    const bundle = join(dir, 'now.tar.gz');
    await run(toolPath('opa'), ['build', '-t', 'wasm', '-e', 'now/r', '-o', bundle, join(dir, 'now.rego')]);
    const clock = new Date('2030-01-02T03:04:05.678Z');
    let reads = 0;
    const now = await PolicyRuntime.load(readWasmBundle(readFileSync(bundle)).wasm, {
      now: () => {
        reads += 1;
        return clock;
      },
    });
    const [a, b] = now.evaluate({}).result as number[];
    assert.equal(a, b);
    assert.equal(a, Date.parse('2030-01-02T03:04:05.678Z') * 1e6);
    assert.equal(reads, 1);
    now.evaluate({});
    assert.equal(reads, 2, 'each evaluation reads the clock again');
  });

  it('passes any input and result through the instance memory unchanged (non-ASCII, long, empty)', async () => {
    writeFileSync(join(dir, 'echo.rego'), 'package echo\n\nr := {"input": input, "size": count(input.items)}\n');
    const bundle = join(dir, 'echo.tar.gz');
    await run(toolPath('opa'), ['build', '-t', 'wasm', '-e', 'echo/r', '-o', bundle, join(dir, 'echo.rego')]);
    const echo = await PolicyRuntime.load(readWasmBundle(readFileSync(bundle)).wasm);
    const inputs = [
      { items: [] },
      { items: ['ascii'], path: '/a?b=c' },
      { items: ['café', 'naïve', '日本語', '🙂'], note: 'x'.repeat(300) },
      { items: Array.from({ length: 2000 }, (_, i) => `item-${i}-é`) },
      { items: ['a'], tail: `${'y'.repeat(255)}é` },
    ];
    for (const input of inputs) {
      const { result, error } = echo.evaluateValue(input);
      assert.equal(error, undefined);
      assert.deepEqual(result, { input, size: input.items.length });
    }
    const { result } = echo.evaluateValue(undefined);
    assert.equal(result, undefined, 'no input: the rule is undefined');
  });

  describe('the heap kept between evaluations', () => {
    // Patterns from the input (compiled and kept by the module), a memoised rule on the input, and
    // a rule that fails the evaluation when both `a` and `b` are set (conflicting values).
    const POLICY = [
      'package kept',
      '',
      'path_ok if glob.match(input.pattern, ["/"], input.path)',
      'name_ok if regex.match(input.regex, input.name)',
      'marks := {m | some m in input.marks}',
      'conflict := 1 if input.a',
      'conflict := 2 if input.b',
      'r := {"path_ok": path_ok, "name_ok": name_ok, "marks": count(marks), "conflict": conflict} if {',
      '\tpath_ok',
      '} else := {"path_ok": false, "name_ok": name_ok, "marks": count(marks)}',
      '',
    ].join('\n');
    const inputs = Array.from({ length: 60 }, (_, i) => ({
      pattern: ['/api/*', '/api/**', `/v${i % 7}/*`][i % 3],
      path: [`/api/items`, `/api/items/${i}`, `/v${i % 5}/x`][i % 3],
      regex: [`^user-${i % 4}$`, '^[a-z]+$', 'é+'][i % 3],
      name: [`user-${i % 6}`, 'abc', 'ééé', 'A1'][i % 4],
      marks: Array.from({ length: i % 9 }, (_, j) => `m${j % 5}`),
      ...(i % 13 === 0 ? { a: true, b: true } : { a: i % 2 === 0 }),
    }));
    let wasm: Uint8Array;

    before(async () => {
      writeFileSync(join(dir, 'kept.rego'), POLICY);
      const bundle = join(dir, 'kept.tar.gz');
      await run(toolPath('opa'), ['build', '-t', 'wasm', '-e', 'kept/r', '-o', bundle, join(dir, 'kept.rego')]);
      wasm = readWasmBundle(readFileSync(bundle)).wasm;
    });

    it('leaves every evaluation as a fresh heap would, failures included', async () => {
      // A new instance per input: nothing carried over at all.
      const expected = await Promise.all(
        inputs.map(async (input) => (await PolicyRuntime.load(wasm)).evaluateValue(input)),
      );
      assert.ok(
        expected.some((e) => e.error !== undefined),
        'some inputs fail (conflicting values)',
      );
      assert.ok(expected.some((e) => (e.result as { path_ok?: boolean } | undefined)?.path_ok === true));
      for (const heapResetBytes of [undefined, 0, 64 * 1024]) {
        const runtime = await PolicyRuntime.load(wasm, { heapResetBytes });
        for (let i = 0; i < 3000; i++) {
          const { result, error } = runtime.evaluateValue(inputs[i % inputs.length]);
          const want = expected[i % inputs.length];
          assert.deepEqual(
            { result, failed: error !== undefined },
            { result: want.result, failed: want.error !== undefined },
            `evaluation ${i}, heapResetBytes ${heapResetBytes}`,
          );
        }
      }
    });

    it('stays within maxMemoryBytes however many evaluations it serves', async () => {
      const runtime = await PolicyRuntime.load(wasm, { maxMemoryBytes: 4 * 1024 * 1024 });
      const big = { ...inputs[1], marks: Array.from({ length: 400 }, (_, j) => `mark-${j}`) };
      // Each evaluation takes well over 50 KiB of heap: 5,000 of them would need hundreds of MiB kept.
      for (let i = 0; i < 5000; i++) {
        const { result, error } = runtime.evaluateValue(big);
        assert.equal(error, undefined, `evaluation ${i}`);
        assert.equal((result as { marks: number }).marks, 400);
      }
    });
  });
});
