// Checks docker-compose.yml and the Dockerfile without building or starting anything: the
// compose file is validated and normalised by `docker-compose config`, then its services,
// probes, start order, published ports, volumes and environment are compared with what the
// code expects; the Dockerfile's shipped stages must not run as root and must carry what the
// compose commands run.
//
// Needs `docker-compose` (v1 or v2) or the `docker compose` plugin on PATH, not a Docker
// daemon. Without one the compose test is skipped locally and fails when CI is set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join, posix } from 'node:path';
import { KNOWN_VARIABLES, schemas } from '#libs/config';

const ROOT = findRepoRoot(__dirname);
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const DOCKERFILE = join(ROOT, 'Dockerfile');

const POSTGRES = 'postgres';
const MIGRATE = 'migrate';
/** One-shot: mints the sidecar's join token and fetches the trust bundle into a shared volume. */
const PROXY_INIT = 'proxy-init';
/** The demo app behind the sidecar. */
const DEMO = 'demo';
const PROXY = 'proxy';

/** Each Bowline service's default ports (libs/config/src/catalog.ts); the first is the admin HTTP port. */
const SERVICE_PORTS: Readonly<Record<string, readonly number[]>> = {
  citadel: [8081, 15012],
  pilot: [8082, 15010],
  galley: [8083, 15019],
  policy: [8084, 9191],
  proxy: [15000, 15001, 15006],
};
const BOWLINE_SERVICES = Object.keys(SERVICE_PORTS);
/** The services that use PostgreSQL (the sidecar proxy does not). */
const CONTROL_PLANE = BOWLINE_SERVICES.filter((name) => name !== PROXY);
const ONE_SHOTS = [MIGRATE, PROXY_INIT];
const EXPECTED_SERVICES = [POSTGRES, MIGRATE, PROXY_INIT, DEMO, ...BOWLINE_SERVICES].sort();
/** Every service built from this repository's Dockerfile. */
const BUILT_SERVICES = [MIGRATE, PROXY_INIT, DEMO, ...BOWLINE_SERVICES];

const OPA_PATH = '/usr/local/bin/opa';
const BOWLINE_PREFIXES = ['BOWLINE_', 'CITADEL_', 'PILOT_', 'GALLEY_', 'POLICY_', 'PROXY_'];
/** The sidecar's own settings: anything else with a Bowline prefix does not belong in its environment. */
const PROXY_SETTINGS = new Set(Object.values(schemas.proxy).map((spec) => spec.name));

// ---------------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------------

test('docker-compose.yml: valid, nine services, probes, start order, ports, volumes, environment', async (t) => {
  const compose = findCompose();
  if (!compose) {
    const message =
      'docker-compose is not installed (neither `docker-compose` nor `docker compose` is on PATH), so docker-compose.yml cannot be validated';
    if (process.env.CI) assert.fail(`${message}; CI must provide docker-compose (v1.29+ or v2)`);
    t.skip(`${message}; install docker-compose to run this test`);
    return;
  }

  const { config, via, yaml } = loadComposeConfig(compose);
  t.diagnostic(`normalised by \`${compose.display} config\` (${via})`);
  const services = asRecord(config.services, 'services');
  const service = (name: string) => asRecord(services[name], name);
  const envOf = (name: string) => environmentOf(service(name).environment, name);

  await t.test('the built-in YAML reader (fallback) agrees with PyYAML', (st) => {
    if (yaml === undefined || !via.includes('PyYAML')) {
      st.skip('only checked when compose printed YAML and PyYAML read it');
      return;
    }
    assert.deepEqual(parseBlockYaml(yaml), config);
  });

  await t.test('has exactly the expected nine services', () => {
    assert.deepEqual(Object.keys(services).sort(), EXPECTED_SERVICES);
  });

  await t.test('every service except the one-shots (migrate, proxy-init) has a healthcheck', () => {
    for (const [name, raw] of Object.entries(services)) {
      const healthcheck = asRecord(raw, name).healthcheck;
      if (ONE_SHOTS.includes(name)) continue;
      assert.ok(healthcheck !== undefined && healthcheck !== null, `${name} has no healthcheck`);
      const check = asRecord(healthcheck, `${name}.healthcheck`);
      assert.notEqual(check.disable, true, `${name}: healthcheck is disabled`);
      const command = probeCommand(check.test);
      assert.ok(command.length > 0 && command !== 'NONE', `${name}: healthcheck has no test command`);
    }
  });

  await t.test(
    "each Bowline service's healthcheck probes its own admin readiness (/readyz; the proxy's /ready)",
    () => {
      for (const name of BOWLINE_SERVICES) {
        const check = asRecord(service(name).healthcheck, `${name}.healthcheck`);
        const adminPort = SERVICE_PORTS[name][0];
        const path = name === PROXY ? '/ready' : '/readyz';
        assert.ok(
          new RegExp(`:${adminPort}${path}(?![\\w-])`).test(probeCommand(check.test)),
          `${name}: healthcheck should request http://127.0.0.1:${adminPort}${path}, got ${JSON.stringify(check.test)}`,
        );
      }
    },
  );

  await t.test('every service that depends on postgres waits for it to be healthy', () => {
    let dependents = 0;
    for (const [name, raw] of Object.entries(services)) {
      const conditions = dependencyConditions(asRecord(raw, name).depends_on);
      if (!(POSTGRES in conditions)) continue;
      dependents += 1;
      assert.equal(conditions[POSTGRES], 'service_healthy', `${name}: depends_on.postgres.condition`);
    }
    assert.ok(dependents > 0, 'no service depends on postgres');
  });

  await t.test('migrate and the control plane depend on postgres; the control plane also on migrate', () => {
    assert.equal(dependencyConditions(service(MIGRATE).depends_on)[POSTGRES], 'service_healthy');
    for (const name of CONTROL_PLANE) {
      const conditions = dependencyConditions(service(name).depends_on);
      assert.equal(conditions[POSTGRES], 'service_healthy', `${name}: depends_on.postgres.condition`);
      assert.equal(conditions[MIGRATE], 'service_completed_successfully', `${name}: depends_on.migrate.condition`);
    }
  });

  await t.test(
    'the sidecar starts after proxy-init (after a healthy Citadel) and a healthy Pilot, not the database',
    () => {
      assert.equal(
        dependencyConditions(service(PROXY_INIT).depends_on).citadel,
        'service_healthy',
        'proxy-init: citadel',
      );
      const conditions = dependencyConditions(service(PROXY).depends_on);
      assert.equal(conditions[PROXY_INIT], 'service_completed_successfully', 'proxy: depends_on.proxy-init.condition');
      assert.equal(conditions.pilot, 'service_healthy', 'proxy: depends_on.pilot.condition');
      assert.ok(!(POSTGRES in conditions) && !(MIGRATE in conditions), 'proxy: uses no database');
      assert.equal(service(PROXY_INIT).restart, 'no', 'proxy-init runs once');
    },
  );

  await t.test('published ports are the default ports, host port = container port', () => {
    for (const name of BOWLINE_SERVICES) {
      const ports = publishedPorts(service(name).ports, name);
      for (const { published, target } of ports) {
        assert.equal(published, target, `${name}: port ${target} is published as ${published}`);
      }
      assert.deepEqual(
        ports.map((p) => p.target).sort(byNumber),
        [...SERVICE_PORTS[name]].sort(byNumber),
        `${name}: published ports`,
      );
    }
    for (const name of [MIGRATE, PROXY_INIT, DEMO]) {
      assert.deepEqual(publishedPorts(service(name).ports, name), [], `${name} publishes no port`);
    }
  });

  await t.test('commands run the built entry points and scripts that exist in the source tree', () => {
    for (const name of BOWLINE_SERVICES) {
      const command = commandOf(service(name).command, name);
      assert.deepEqual(command, ['node', `dist/apps/${name}/src/main.js`], `${name}: command`);
      assert.ok(existsSync(join(ROOT, 'apps', name, 'src', 'main.ts')), `apps/${name}/src/main.ts does not exist`);
    }
    const migrate = commandOf(service(MIGRATE).command, MIGRATE);
    assert.deepEqual(migrate, ['node', 'dist/libs/db/src/cli.js', 'run'], 'migrate: command');
    assert.ok(existsSync(join(ROOT, 'libs', 'db', 'src', 'cli.ts')), 'libs/db/src/cli.ts does not exist');
    for (const [name, script] of [
      [PROXY_INIT, 'scripts/mint-join-token.mjs'],
      [DEMO, 'scripts/demo-app.mjs'],
    ]) {
      const command = commandOf(service(name).command, name);
      assert.deepEqual(command.slice(0, 2), ['node', script], `${name}: command`);
      assert.ok(existsSync(join(ROOT, script)), `${script} does not exist`);
    }
  });

  await t.test('environment: only known Bowline settings, a shared admin token, the services find each other', () => {
    const tokens = new Set<string>();
    for (const name of [MIGRATE, PROXY_INIT, DEMO, ...BOWLINE_SERVICES]) {
      const env = envOf(name);
      for (const variable of Object.keys(env)) {
        if (!BOWLINE_PREFIXES.some((prefix) => variable.startsWith(prefix))) continue;
        const known =
          KNOWN_VARIABLES.has(variable) || (variable.endsWith('_FILE') && KNOWN_VARIABLES.has(variable.slice(0, -5)));
        assert.ok(known, `${name}: ${variable} is not a Bowline setting; the service would refuse to start`);
      }
      if (name === MIGRATE || CONTROL_PLANE.includes(name)) {
        assert.match(env.DATABASE_URL ?? '', /^postgres(ql)?:\/\/.+@postgres:5432\//, `${name}: DATABASE_URL`);
      } else {
        assert.equal(env.DATABASE_URL, undefined, `${name}: uses no database, so no DATABASE_URL`);
      }
      if (name === PROXY_INIT || CONTROL_PLANE.includes(name)) {
        const token = env.BOWLINE_ADMIN_TOKEN;
        assert.ok(
          token !== undefined && token.length >= 32,
          `${name}: BOWLINE_ADMIN_TOKEN must default to at least 32 characters`,
        );
        tokens.add(token);
      }
    }
    assert.equal(tokens.size, 1, 'the control plane and proxy-init should share one BOWLINE_ADMIN_TOKEN');
    assert.equal(envOf('policy').POLICY_OPA_PATH, OPA_PATH);
    assert.equal(envOf('policy').POLICY_GALLEY_ADDRESS, `galley:${SERVICE_PORTS.galley[1]}`);
    assert.equal(envOf('pilot').PILOT_GALLEY_ADDRESS, `galley:${SERVICE_PORTS.galley[1]}`);
  });

  await t.test("the sidecar's environment: its own settings only, Pilot and Citadel by name, no admin token", () => {
    const env = envOf(PROXY);
    for (const variable of Object.keys(env)) {
      if (!BOWLINE_PREFIXES.some((prefix) => variable.startsWith(prefix))) continue;
      const own =
        PROXY_SETTINGS.has(variable) || (variable.endsWith('_FILE') && PROXY_SETTINGS.has(variable.slice(0, -5)));
      assert.ok(own, `proxy: ${variable} is not a proxy setting`);
    }
    assert.equal(env.BOWLINE_ADMIN_TOKEN, undefined, 'proxy: the mesh admin token stays with the control plane');
    assert.equal(env.PROXY_PILOT_ADDRESS, `pilot:${SERVICE_PORTS.pilot[1]}`);
    assert.equal(env.PROXY_CITADEL_ADDRESS, `citadel:${SERVICE_PORTS.citadel[1]}`);
    assert.ok(env.PROXY_CA_ROOTS_FILE, 'proxy: PROXY_CA_ROOTS_FILE is required');
    assert.ok(
      (env.BOWLINE_JOIN_TOKEN_FILE ?? '') !== '' || (env.BOWLINE_JOIN_TOKEN ?? '') !== '',
      'proxy: BOWLINE_JOIN_TOKEN or BOWLINE_JOIN_TOKEN_FILE is required',
    );
    assert.ok(env.PROXY_ADMIN_TOKEN === undefined || env.PROXY_ADMIN_TOKEN.length >= 32, 'proxy: PROXY_ADMIN_TOKEN');
    // The mesh service it registers is forwarded to the demo app's port, at the demo's host name.
    assert.equal(env.PROXY_APP_HOST, DEMO);
    const appPort = envOf(DEMO).DEMO_APP_PORT;
    assert.match(env.PROXY_SERVICE_PORTS ?? '', new RegExp(`^\\d+:${appPort}$`), 'proxy: PROXY_SERVICE_PORTS');
  });

  await t.test('proxy-init writes the join token and trust bundle where the sidecar reads them (one volume)', () => {
    const init = commandOf(service(PROXY_INIT).command, PROXY_INIT);
    const option = (flag: string) => init[init.indexOf(flag) + 1];
    const env = envOf(PROXY);
    const files = [
      ['--token-out', env.BOWLINE_JOIN_TOKEN_FILE],
      ['--bundle-out', env.PROXY_CA_ROOTS_FILE],
    ] as const;
    for (const [flag, read] of files) {
      assert.ok(init.includes(flag), `proxy-init: ${flag} is missing`);
      assert.equal(option(flag), read, `proxy-init ${flag} should be the file the sidecar reads`);
    }
    assert.equal(option('--citadel-url'), `http://citadel:${SERVICE_PORTS.citadel[0]}`, 'proxy-init: --citadel-url');
    const writer = volumeMounts(service(PROXY_INIT).volumes, PROXY_INIT);
    const reader = volumeMounts(service(PROXY).volumes, PROXY);
    for (const [, path] of files) {
      const dir = posix.dirname(path!);
      const written = writer.find((m) => m.target === dir);
      const read = reader.find((m) => m.target === dir);
      assert.ok(written && read, `both proxy-init and proxy should mount a volume at ${dir}`);
      assert.equal(written.source, read.source, `proxy-init and proxy should share the volume at ${dir}`);
      assert.equal(written.readOnly, false, `proxy-init must be able to write ${dir}`);
      assert.ok(asRecord(config.volumes, 'volumes')[read.source] !== undefined, `volume ${read.source} is declared`);
    }
  });

  await t.test('the policy service is built from the policy target, the others from runtime', () => {
    for (const name of BUILT_SERVICES) {
      const build = asRecord(service(name).build, `${name}.build`);
      assert.equal(build.target, name === 'policy' ? 'policy' : 'runtime', `${name}: build.target`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

test('Dockerfile: the shipped stages do not run as root and carry what the services need', async (t) => {
  const stages = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
  assert.ok(stages.length > 0, 'the Dockerfile has no FROM');
  const targets = composeBuildTargets(readFileSync(COMPOSE_FILE, 'utf8'));
  const shipped = new Set<Stage>([stages[stages.length - 1]]);
  for (const target of targets) {
    const stage = stageNamed(stages, target);
    assert.ok(stage, `docker-compose.yml builds target "${target}", which the Dockerfile does not define`);
    shipped.add(stage);
  }
  const copiesOf = (stage: Stage) =>
    lineage(stages, stage)
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
      .map((i) => i.args)
      .join('\n');

  await t.test('every final stage runs as a non-root user', () => {
    for (const stage of shipped) {
      const user = effectiveUser(stages, stage);
      assert.ok(
        user !== undefined,
        `stage ${stage.label} has no USER line (it would run as the base image's user, root)`,
      );
      assert.ok(!user.includes('$'), `stage ${stage.label}: USER ${user} cannot be checked (uses a variable)`);
      const name = user.split(':')[0].trim();
      assert.ok(name !== '' && name !== 'root' && name !== '0', `stage ${stage.label} runs as root (USER ${user})`);
    }
  });

  await t.test('every final stage ships package.json, node_modules and dist', () => {
    for (const stage of shipped) {
      const copies = copiesOf(stage);
      for (const needed of ['package.json', 'node_modules', 'dist']) {
        assert.ok(copies.includes(needed), `stage ${stage.label} does not copy ${needed}`);
      }
    }
  });

  await t.test('the runtime stage ships the scripts compose runs and the modules they import', () => {
    const runtime = stageNamed(stages, 'runtime');
    assert.ok(runtime, 'the Dockerfile has no runtime stage');
    const copies = copiesOf(runtime);
    for (const script of ['scripts/mint-join-token.mjs', 'scripts/demo-app.mjs']) {
      const needed = [script, ...localImports(script)];
      for (const file of needed) {
        assert.ok(new RegExp(`(^|\\s)${escapeRegExp(file)}(\\s|$)`, 'm').test(copies), `runtime does not copy ${file}`);
      }
    }
  });

  await t.test('the policy stage carries the pinned OPA CLI at POLICY_OPA_PATH', () => {
    const policy = stageNamed(stages, 'policy');
    assert.ok(policy, 'the Dockerfile has no policy stage');
    const instructions = lineage(stages, policy).flatMap((s) => s.instructions);
    const copy = instructions.find((i) => i.keyword === 'COPY' && /--from=openpolicyagent\/opa:/.test(i.args));
    assert.ok(copy, 'the policy stage does not COPY --from=openpolicyagent/opa:<version>-static');
    assert.match(
      copy.args,
      new RegExp(`\\s/opa\\s+${escapeRegExp(OPA_PATH)}$`),
      `the opa binary should be copied to ${OPA_PATH}`,
    );
    const env = instructions.filter((i) => i.keyword === 'ENV').map((i) => i.args);
    assert.ok(
      env.some((args) => new RegExp(`POLICY_OPA_PATH[= ]${escapeRegExp(OPA_PATH)}(\\s|$)`).test(args)),
      `the policy stage should set POLICY_OPA_PATH=${OPA_PATH}`,
    );
    // The image's OPA must be the version scripts/ensure-tools.sh installs for local runs.
    const tools = join(ROOT, 'scripts', 'ensure-tools.sh');
    const pinned = existsSync(tools) ? /^OPA_VERSION="v?([^"]+)"/m.exec(readFileSync(tools, 'utf8'))?.[1] : undefined;
    if (pinned) {
      assert.match(
        copy.args,
        new RegExp(`--from=openpolicyagent/opa:${escapeRegExp(pinned)}-static\\s`),
        `OPA should be ${pinned}`,
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Running docker-compose
// ---------------------------------------------------------------------------------------------

interface Compose {
  command: string;
  prefix: string[];
  display: string;
}

/** `docker-compose` (v1 or v2), else the `docker compose` plugin; undefined when neither works. */
function findCompose(): Compose | undefined {
  const candidates: Compose[] = [
    { command: 'docker-compose', prefix: [], display: 'docker-compose' },
    { command: 'docker', prefix: ['compose'], display: 'docker compose' },
  ];
  for (const candidate of candidates) {
    if (!onPath(candidate.command)) continue;
    const result = spawnSync(candidate.command, [...candidate.prefix, 'version'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (!result.error && result.status === 0) return candidate;
  }
  return undefined;
}

/**
 * `config --format json` where supported (Compose v2). Compose v1 has no --format (and answers
 * it with its usage text and exit 0), so its YAML output is converted: by the Python that runs
 * docker-compose v1 (PyYAML is one of its dependencies) or python3 with PyYAML, else by the
 * small parser below, which reads the block YAML `config` prints.
 */
function loadComposeConfig(compose: Compose): { config: Record<string, unknown>; via: string; yaml?: string } {
  const json = runCompose(compose, ['config', '--format', 'json']);
  if (json.status === 0) {
    const parsed = tryJson(json.stdout);
    if (isRecord(parsed) && isRecord(parsed.services)) return { config: parsed, via: 'JSON output' };
  }
  const yaml = runCompose(compose, ['config']);
  assert.equal(yaml.status, 0, `\`${compose.display} config\` rejected docker-compose.yml:\n${yaml.stderr}`);
  for (const python of pythonCandidates(compose)) {
    const converted = spawnSync(
      python,
      ['-c', 'import json,sys,yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
      {
        input: yaml.stdout,
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    const parsed = converted.status === 0 ? tryJson(converted.stdout) : undefined;
    if (isRecord(parsed))
      return { config: parsed, via: `YAML output read by ${python} with PyYAML`, yaml: yaml.stdout };
  }
  const parsed = parseBlockYaml(yaml.stdout);
  assert.ok(isRecord(parsed), '`config` did not print a mapping');
  return { config: parsed, via: 'YAML output read by the built-in block-YAML reader', yaml: yaml.stdout };
}

function runCompose(compose: Compose, args: string[]): { status: number | null; stdout: string; stderr: string } {
  // The file's own defaults are what is checked: Bowline variables from the caller's shell
  // (which compose would interpolate, e.g. a personal BOWLINE_ADMIN_TOKEN) are left out.
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!BOWLINE_PREFIXES.some((prefix) => name.startsWith(prefix))) env[name] = value;
  }
  const result = spawnSync(compose.command, [...compose.prefix, '-f', COMPOSE_FILE, ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The interpreter of a Python docker-compose script (it has PyYAML), then python3. */
function pythonCandidates(compose: Compose): string[] {
  const candidates: string[] = [];
  const script = compose.command === 'docker-compose' ? onPath('docker-compose') : undefined;
  if (script) {
    let firstLine = '';
    try {
      firstLine = readFileSync(script).subarray(0, 256).toString('latin1').split('\n')[0];
    } catch {
      // unreadable: not a script we can use
    }
    const shebang = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(firstLine);
    if (shebang) {
      const interpreter = shebang[1].endsWith('/env') && shebang[2] ? shebang[2] : shebang[1];
      if (/python/.test(interpreter)) candidates.push(interpreter);
    }
  }
  if (onPath('python3')) candidates.push('python3');
  return [...new Set(candidates)];
}

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Reading the normalised compose model (v1 YAML and v2 JSON differ in a few shapes)
// ---------------------------------------------------------------------------------------------

/** depends_on as service → condition; the short list form means `service_started`. */
function dependencyConditions(dependsOn: unknown): Record<string, string> {
  if (dependsOn === undefined || dependsOn === null) return {};
  if (Array.isArray(dependsOn)) return Object.fromEntries(dependsOn.map((name) => [String(name), 'service_started']));
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(asRecord(dependsOn, 'depends_on'))) {
    const condition = isRecord(value) ? value.condition : undefined;
    result[name] = typeof condition === 'string' ? condition : 'service_started';
  }
  return result;
}

/** The healthcheck test as one string (`["CMD", ...]` lists and shell strings alike). */
function probeCommand(test: unknown): string {
  if (Array.isArray(test)) return test.map(String).join(' ');
  return typeof test === 'string' ? test : '';
}

interface PublishedPort {
  published: number;
  target: number;
}

/** v2 prints `{target, published: "8081", host_ip}`; v1 prints `"127.0.0.1:8081:8081/tcp"`. */
function publishedPorts(ports: unknown, service: string): PublishedPort[] {
  if (ports === undefined || ports === null) return [];
  assert.ok(Array.isArray(ports), `${service}: ports is not a list`);
  const result: PublishedPort[] = [];
  for (const port of ports) {
    if (isRecord(port)) {
      if (port.published === undefined || port.published === null || port.published === '') continue;
      result.push({ published: toPort(port.published, service), target: toPort(port.target, service) });
      continue;
    }
    const spec = String(port).replace(/\/(tcp|udp|sctp)$/, '');
    const match = /^(?:.*:)?(\d+):(\d+)$/.exec(spec);
    assert.ok(match || /^\d+$/.test(spec), `${service}: cannot read port "${String(port)}" (ranges are not expected)`);
    if (match) result.push({ published: toPort(match[1], service), target: toPort(match[2], service) });
  }
  return result;
}

interface VolumeMount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** v2 prints `{type, source, target, read_only}`; v1 prints `"source:target:rw"`. */
function volumeMounts(volumes: unknown, service: string): VolumeMount[] {
  if (volumes === undefined || volumes === null) return [];
  assert.ok(Array.isArray(volumes), `${service}: volumes is not a list`);
  return volumes.map((volume) => {
    if (isRecord(volume)) {
      return { source: String(volume.source), target: String(volume.target), readOnly: volume.read_only === true };
    }
    const [source, target, mode] = String(volume).split(':');
    assert.ok(source && target, `${service}: cannot read volume "${String(volume)}"`);
    return { source, target, readOnly: (mode ?? '').split(',').includes('ro') };
  });
}

function toPort(value: unknown, service: string): number {
  const port = Number(value);
  assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `${service}: "${String(value)}" is not a port`);
  return port;
}

function commandOf(command: unknown, service: string): string[] {
  assert.ok(Array.isArray(command), `${service}: command should be an exec-form list, got ${JSON.stringify(command)}`);
  return command.map(String);
}

/** environment as a name → value map (the list form `NAME=value` is accepted too). */
function environmentOf(environment: unknown, service: string): Record<string, string | undefined> {
  if (environment === undefined || environment === null) return {};
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((entry) => {
        const text = String(entry);
        const eq = text.indexOf('=');
        return eq === -1 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
      }),
    );
  }
  const result: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(asRecord(environment, `${service}.environment`))) {
    result[name] = value === null || value === undefined ? undefined : String(value);
  }
  return result;
}

/** The build targets named in the compose file's text (no compose binary needed). */
function composeBuildTargets(text: string): string[] {
  const targets = new Set<string>();
  for (const match of text.matchAll(/^\s*target:\s*["']?([A-Za-z0-9_.-]+)["']?\s*(?:#.*)?$/gm)) targets.add(match[1]);
  return [...targets];
}

// ---------------------------------------------------------------------------------------------
// Dockerfile reading
// ---------------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  index: number;
  name?: string;
  base: string;
  label: string;
  instructions: Instruction[];
}

/** Stages with their instructions; comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const joined = (pending + line).trim();
    pending = '';
    if (joined) logical.push(joined);
  }
  if (pending.trim()) logical.push(pending.trim());

  const stages: Stage[] = [];
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const keyword = match[1].toUpperCase();
    const args = match[2].trim();
    if (keyword === 'FROM') {
      const words = args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const name = words.length >= 3 && words[1].toUpperCase() === 'AS' ? words[2] : undefined;
      const index = stages.length;
      stages.push({ index, name, base: words[0] ?? '', label: name ?? `#${index}`, instructions: [] });
      continue;
    }
    if (stages.length === 0) continue; // ARG before the first FROM
    stages[stages.length - 1].instructions.push({ keyword, args });
  }
  return stages;
}

/** The repository files `script` imports with relative specifiers, transitively (paths from the root). */
function localImports(script: string, seen = new Set<string>()): string[] {
  const text = readFileSync(join(ROOT, script), 'utf8');
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const file = posix.normalize(posix.join(posix.dirname(script), match[1]));
    if (seen.has(file)) continue;
    seen.add(file);
    localImports(file, seen);
  }
  return [...seen];
}

function stageNamed(stages: Stage[], name: string): Stage | undefined {
  return stages.find((stage) => stage.name?.toLowerCase() === name.toLowerCase());
}

/** The stage and the earlier stages it is built `FROM`, nearest first. */
function lineage(stages: Stage[], stage: Stage): Stage[] {
  const chain: Stage[] = [];
  let current: Stage | undefined = stage;
  while (current && !chain.includes(current)) {
    chain.push(current);
    const base: string = current.base;
    current = stages.slice(0, current.index).find((s) => s.name?.toLowerCase() === base.toLowerCase());
  }
  return chain;
}

/** The last USER in the stage, or in the stage it is built from; undefined = the image default. */
function effectiveUser(stages: Stage[], stage: Stage): string | undefined {
  for (const s of lineage(stages, stage)) {
    const users = s.instructions.filter((i) => i.keyword === 'USER');
    if (users.length > 0) return users[users.length - 1].args;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// A reader for the block YAML that `docker-compose config` (v1) prints, for when neither JSON
// output nor PyYAML is available: block mappings and sequences, plain and quoted one-line
// scalars, `{}` / `[]` and JSON-style flow values. Anything else is reported, not guessed.
// ---------------------------------------------------------------------------------------------

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

interface YamlLine {
  indent: number;
  text: string;
  no: number;
}

function parseBlockYaml(source: string): Yaml {
  const lines: YamlLine[] = [];
  source.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed === '---' || trimmed === '...') return;
    const indent = raw.length - raw.trimStart().length;
    if (raw.slice(0, indent).includes('\t')) throw new Error(`YAML line ${i + 1}: tab indentation is not supported`);
    lines.push({ indent, text: raw.slice(indent).trimEnd(), no: i + 1 });
  });
  if (lines.length === 0) return null;
  let pos = 0;
  const fail = (line: YamlLine, why: string): never => {
    throw new Error(`YAML line ${line.no}: ${why}: ${JSON.stringify(line.text)}`);
  };
  const isItem = (text: string) => text === '-' || text.startsWith('- ');

  const node = (indent: number): Yaml => (isItem(lines[pos].text) ? sequence(indent) : mapping(indent));

  /** A value after `key:` or `-`: nested block, indentless sequence (after a key) or null. */
  const nested = (indent: number, afterKey: boolean): Yaml => {
    const next = lines[pos];
    if (next && next.indent > indent) return node(next.indent);
    if (afterKey && next && next.indent === indent && isItem(next.text)) return sequence(indent);
    return null;
  };

  const sequence = (indent: number): Yaml[] => {
    const items: Yaml[] = [];
    while (pos < lines.length && lines[pos].indent >= indent) {
      const line = lines[pos];
      if (line.indent > indent) fail(line, 'unexpected indentation');
      if (!isItem(line.text)) break;
      const rest = line.text.slice(1).trimStart();
      if (rest === '') {
        pos += 1;
        items.push(nested(indent, false));
      } else if (isItem(rest) || isMappingEntry(rest)) {
        // `- key: value` / `- - x`: the rest is a block node starting at its own column.
        lines[pos] = { indent: line.indent + line.text.length - rest.length, text: rest, no: line.no };
        items.push(node(lines[pos].indent));
      } else {
        pos += 1;
        items.push(scalar(rest, line));
      }
    }
    return items;
  };

  const mapping = (indent: number): { [key: string]: Yaml } => {
    const result: { [key: string]: Yaml } = {};
    while (pos < lines.length && lines[pos].indent >= indent) {
      const line = lines[pos];
      if (line.indent > indent) fail(line, 'unexpected indentation');
      if (isItem(line.text)) break;
      const entry = splitEntry(line.text);
      if (!entry) fail(line, 'expected "key: value"');
      const { key, rest } = entry as { key: string; rest: string };
      if (Object.prototype.hasOwnProperty.call(result, key)) fail(line, `duplicate key "${key}"`);
      pos += 1;
      result[key] = rest === '' ? nested(indent, true) : scalar(rest, line);
    }
    return result;
  };

  const scalar = (text: string, line: YamlLine): Yaml => {
    if (text.startsWith("'")) {
      const match = /^'((?:[^']|'')*)'\s*(?:#.*)?$/.exec(text);
      if (!match) fail(line, 'unsupported single-quoted scalar (multi-line?)');
      return (match as RegExpExecArray)[1].replace(/''/g, "'");
    }
    if (text.startsWith('"')) {
      const match = /^("(?:[^"\\]|\\.)*")\s*(?:#.*)?$/.exec(text);
      const value = match ? tryJson(match[1]) : undefined;
      if (typeof value !== 'string') fail(line, 'unsupported double-quoted scalar (multi-line or YAML-only escapes?)');
      return value as string;
    }
    if (text.startsWith('[') || text.startsWith('{')) {
      const value = tryJson(text);
      if (value === undefined) fail(line, 'unsupported flow collection');
      return value as Yaml;
    }
    if (/^[|>&*!%@`]/.test(text)) fail(line, 'unsupported YAML construct (block scalar, anchor, alias or tag)');
    const plain = text.replace(/\s+#.*$/, '');
    if (/^(~|null|Null|NULL)$/.test(plain)) return null;
    if (/^(true|True|TRUE|yes|Yes|YES|on|On|ON)$/.test(plain)) return true;
    if (/^(false|False|FALSE|no|No|NO|off|Off|OFF)$/.test(plain)) return false;
    if (/^[-+]?(0|[1-9][0-9]*)$/.test(plain)) return Number(plain);
    if (/^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(plain)) return Number(plain);
    return plain;
  };

  const result = node(lines[0].indent);
  if (pos < lines.length) fail(lines[pos], 'unexpected content');
  return result;
}

/** `key: value` / `key:` with a plain or quoted key; undefined when the text is not an entry. */
function splitEntry(text: string): { key: string; rest: string } | undefined {
  const quoted = /^('(?:[^']|'')*'|"(?:[^"\\]|\\.)*")\s*:(?:\s+(.*))?$/.exec(text);
  if (quoted) {
    const key = quoted[1].startsWith("'") ? quoted[1].slice(1, -1).replace(/''/g, "'") : (tryJson(quoted[1]) as string);
    return { key, rest: (quoted[2] ?? '').trim() };
  }
  if (/^['"]/.test(text)) return undefined;
  const colon = text.indexOf(': ');
  if (colon > 0) return { key: text.slice(0, colon).trim(), rest: text.slice(colon + 2).trim() };
  if (text.endsWith(':') && text.length > 1) return { key: text.slice(0, -1).trim(), rest: '' };
  return undefined;
}

function isMappingEntry(text: string): boolean {
  return splitEntry(text) !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/** The directory holding the package.json named "bowline", from `start` upwards. */
function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'bowline') return dir;
      } catch {
        // not a readable manifest: keep going up
      }
    }
    if (dirname(dir) === dir) throw new Error(`no package.json named "bowline" above ${start}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  assert.ok(isRecord(value), `${what} is not a mapping: ${JSON.stringify(value)}`);
  return value;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function byNumber(a: number, b: number): number {
  return a - b;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
