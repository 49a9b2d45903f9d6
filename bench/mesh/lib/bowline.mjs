// Bowline's sidecar pair, with identities from a real Citadel:
//   PostgreSQL (DATABASE_URL, else embedded as `npm test` does) → a fresh database, migrated
//   with the migration CLI → Citadel → trust bundle + two join tokens (default/client,
//   default/server) → two `node dist/apps/proxy/src/main.js`, configured by PROXY_* variables
//   and a static bootstrap file (no Pilot).
// bowline-authz is the same pair with authorization on: Galley and the policy service run too,
// AUTHZ_POLICY_COUNT AuthorizationPolicies select the server workload, and the server sidecar
// enforces them in process (PROXY_POLICY_URL; decision logs as --decision-logs says, off by default).
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { URL } from 'node:url';
import { childPids, freePort, httpRequest, logSummary, startProcess, waitUntil } from './proc.mjs';
import { checkPath } from './paths.mjs';

export const SERVICE_PORT = 8080;
export const SERVICE_HOST = 'server.default.svc.cluster.local';
export const CLUSTER = `outbound|${SERVICE_PORT}||${SERVICE_HOST}`;
export const LISTENER = `${SERVICE_HOST}:${SERVICE_PORT}`;
const ADMIN_TOKEN = `bench-mesh-admin-${randomBytes(16).toString('hex')}`;
const PROXY_ADMIN_TOKEN = `bench-mesh-proxy-${randomBytes(16).toString('hex')}`;

/** How many AuthorizationPolicies the bowline-authz path's server sidecar evaluates per request. */
export const AUTHZ_POLICY_COUNT = 20;

/**
 * An RBAC set in the spirit of bench/policy: one ALLOW per caller service account and path
 * prefix (the bench's client is allowed POST /echo and GET /debug), and every fifth a DENY that
 * the bench's requests do not match, so a request is checked against the whole set.
 */
export function authorizationPolicies(count = AUTHZ_POLICY_COUNT) {
  const docs = [];
  for (let i = 0; i < count; i++) {
    const mine = i === count - 1;
    const deny = !mine && i % 5 === 4;
    const rule = mine
      ? {
          from: [{ source: { principals: ['cluster.local/ns/default/sa/client'] } }],
          to: [{ operation: { methods: ['POST', 'GET'], paths: ['/echo*', '/debug'] } }],
        }
      : {
          from: [{ source: { principals: [`cluster.local/ns/default/sa/caller-${i}`] } }],
          to: [{ operation: { methods: ['GET'], paths: [`/api/v${i}/*`] } }],
          when: [{ key: 'request.headers[x-tenant]', values: [`tenant-${i}`] }],
        };
    docs.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: `bench-${String(i).padStart(2, '0')}`, namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'server' } }, action: deny ? 'DENY' : 'ALLOW', rules: [rule] },
    });
  }
  return docs;
}

/**
 * The Rego policy `--authz-rego` adds (opa-envoy-plugin style, RBAC by SPIFFE principal, method
 * and path glob, as bench/policy/rbac.ts's), and its data: grants for 20 callers, the client's
 * covering fortio's `GET /echo`.
 */
export const REGO_POLICY_NAME = 'bench-rbac';
export function regoPolicy() {
  const grants = {};
  for (let i = 0; i < AUTHZ_POLICY_COUNT - 1; i++)
    grants[`spiffe://cluster.local/ns/default/sa/caller-${i}`] = [{ methods: ['GET'], path: `/api/v${i}/*` }];
  grants['spiffe://cluster.local/ns/default/sa/client'] = [{ methods: ['GET', 'POST'], path: '/echo*' }];
  return {
    name: REGO_POLICY_NAME,
    modules: {
      'rbac.rego': [
        'package envoy.authz',
        '',
        'default allow := false',
        '',
        'request_path := split(input.attributes.request.http.path, "?")[0]',
        '',
        'allow if {',
        '\tsome grant in data.grants[input.attributes.source.principal]',
        '\tinput.attributes.request.http.method in grant.methods',
        '\tglob.match(grant.path, ["/"], request_path)',
        '\tnot input.attributes.request.http.headers["x-block"]',
        '}',
        '',
      ].join('\n'),
    },
    data: { grants },
    activate: true,
  };
}

/**
 * The server sidecar's `bowline_proxy_authorization_duration_seconds` (each decision's time in
 * the proxy), scraped from its admin port: `{buckets: [[le, cumulative count]...], sum, count}`.
 */
export async function authorizationHistogram(adminPort) {
  const response = await globalThis.fetch(`http://127.0.0.1:${adminPort}/stats/prometheus`, {
    headers: { authorization: `Bearer ${PROXY_ADMIN_TOKEN}` },
  });
  const text = await response.text();
  const name = 'bowline_proxy_authorization_duration_seconds';
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))].map((m) => [
    m[1] === '+Inf' ? Infinity : Number(m[1]),
    Number(m[2]),
  ]);
  const value = (suffix) => Number(new RegExp(`^${name}_${suffix} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { buckets, sum: value('sum'), count: value('count') };
}

/** The bench could not start Bowline's pair; `message` says what and what to do. */
export class BowlineNotReady extends Error {}

/** The client sidecar's static config: one outbound listener, one STATIC cluster over mTLS. */
export function clientBootstrap(serverInboundPort) {
  return {
    static_resources: {
      listeners: [
        {
          name: LISTENER,
          api_listener: {
            api_listener: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              route_config: {
                name: LISTENER,
                virtual_hosts: [
                  {
                    name: 'server',
                    domains: ['*'],
                    routes: [{ match: { prefix: '/' }, route: { cluster: CLUSTER } }],
                  },
                ],
              },
            },
          },
        },
      ],
      clusters: [
        {
          name: CLUSTER,
          type: 'STATIC',
          connect_timeout: '1s',
          lb_policy: 'ROUND_ROBIN',
          load_assignment: {
            cluster_name: CLUSTER,
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: serverInboundPort } } },
                    metadata: { filter_metadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' } } },
                  },
                ],
              },
            ],
          },
          transport_socket_matches: [
            {
              name: 'tlsMode-istio',
              match: { tlsMode: 'istio' },
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
                  sni: `outbound_.${SERVICE_PORT}_._.${SERVICE_HOST}`,
                  common_tls_context: {
                    alpn_protocols: ['h2', 'http/1.1'],
                    combined_validation_context: {
                      default_validation_context: {
                        match_typed_subject_alt_names: [
                          { san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/server' } },
                        ],
                      },
                    },
                  },
                },
              },
            },
          ],
        },
      ],
    },
  };
}

function requireBuilt(root, file) {
  if (!existsSync(join(root, file)))
    throw new BowlineNotReady(`${file} is missing: run \`npm run build\` first (or measure --paths direct,nginx)`);
}

/**
 * Starts everything Bowline's pair needs and returns a Path (see paths.mjs) whose stop() also
 * stops Citadel, drops the database and stops an embedded PostgreSQL.
 */
export function startBowlineAuthz(context) {
  return startBowline({ ...context, authz: true });
}

export async function startBowline({
  root,
  tmp,
  appPort,
  cpuProfDir,
  proxyMain,
  say,
  authz = false,
  decisionLogs = 'off',
  authzCache = 4096,
  authzRego = false,
}) {
  const pathName = authz ? 'bowline-authz' : 'bowline';
  const services = ['citadel', ...(authz ? ['galley', 'policy'] : [])];
  for (const file of [...services.map((s) => `dist/apps/${s}/src/main.js`), 'dist/libs/db/src/cli.js'])
    requireBuilt(root, file);
  const main = proxyMain ? resolve(proxyMain) : join(root, 'dist/apps/proxy/src/main.js');
  if (!existsSync(main))
    throw new BowlineNotReady(`${main} is missing: run \`npm run build\` first (or measure --paths direct,nginx)`);
  const dir = join(tmp, pathName);
  mkdirSync(dir, { recursive: true });
  const cleanups = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  const basePath = process.env.PATH ?? '';
  try {
    // PostgreSQL, as scripts/test.mjs finds or starts it.
    let serverUrl = process.env.DATABASE_URL;
    if (!serverUrl) {
      say('DATABASE_URL is not set: starting an embedded PostgreSQL for Citadel');
      const { startEmbeddedPostgres } = await import('../../../scripts/lib/postgres.mjs');
      const embedded = await startEmbeddedPostgres({
        dataDir: join(dir, 'pg', 'data'),
        port: await freePort(),
        persistent: false,
      });
      cleanups.push(() => embedded.stop());
      serverUrl = embedded.url;
    }
    const { default: pg } = await import('pg');
    const name = `bowline_bench_mesh_${randomBytes(6).toString('hex')}`;
    const sql = async (text) => {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(text);
      } finally {
        await client.end();
      }
    };
    await sql(`CREATE DATABASE "${name}"`);
    cleanups.push(() => sql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    const dbUrl = new URL(serverUrl);
    dbUrl.pathname = `/${name}`;
    const migrate = spawnSync(process.execPath, [join(root, 'dist/libs/db/src/cli.js'), 'run'], {
      cwd: root,
      env: { PATH: basePath, DATABASE_URL: dbUrl.toString() },
      encoding: 'utf8',
    });
    if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);

    // Citadel.
    const [grpcPort, adminPort] = [await freePort(), await freePort()];
    const citadel = startProcess('citadel', process.execPath, [join(root, 'dist/apps/citadel/src/main.js')], {
      cwd: root,
      logFile: join(dir, 'citadel.log'),
      env: {
        PATH: basePath,
        BOWLINE_BIND_ADDRESS: '127.0.0.1',
        CITADEL_GRPC_PORT: String(grpcPort),
        CITADEL_ADMIN_PORT: String(adminPort),
        CITADEL_SIGNING_WORKERS: '1',
        DATABASE_URL: dbUrl.toString(),
        BOWLINE_ADMIN_TOKEN: ADMIN_TOKEN,
        BOWLINE_CA_KEK: randomBytes(32).toString('base64'),
      },
    });
    cleanups.push(() => citadel.stop());
    await waitUntil(async () => (await httpRequest({ port: adminPort, path: '/readyz' })).status === 200, {
      processes: [citadel],
      what: 'Citadel /readyz',
      timeoutMs: 60_000,
    });
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const bundle = await httpRequest({ port: adminPort, path: '/v1/trust-bundle', headers: auth });
    if (bundle.status !== 200) throw new Error(`Citadel trust bundle: HTTP ${bundle.status} ${bundle.body}`);
    const rootsFile = join(dir, 'trust-bundle.pem');
    writeFileSync(rootsFile, bundle.body);
    const policyAdminPort = authz
      ? await startAuthorization({ root, dir, basePath, dbUrl, cleanups, citadel, rego: authzRego })
      : 0;
    const mint = async (serviceAccount) => {
      const body = JSON.stringify({ namespace: 'default', serviceAccount, ttlSeconds: 3600, maxUses: 10 });
      const res = await httpRequest({
        port: adminPort,
        path: '/v1/join-tokens',
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        body,
      });
      if (res.status !== 201) throw new Error(`mint join token for ${serviceAccount}: HTTP ${res.status} ${res.body}`);
      return JSON.parse(res.body.toString()).token;
    };

    // The two sidecars.
    const ports = {
      client: { admin: await freePort(), outbound: await freePort(), inbound: await freePort() },
      server: { admin: await freePort(), outbound: await freePort(), inbound: await freePort() },
    };
    const bootstrap = {
      client: join(dir, 'client-bootstrap.json'),
      server: join(dir, 'server-bootstrap.json'),
    };
    writeFileSync(bootstrap.client, `${JSON.stringify(clientBootstrap(ports.server.inbound), null, 2)}\n`);
    writeFileSync(bootstrap.server, `${JSON.stringify({ static_resources: {} }, null, 2)}\n`);
    const sidecars = {};
    for (const role of ['server', 'client']) {
      const flags = [];
      if (cpuProfDir) {
        // One directory per path and side: the summary reads the newest profile in it.
        mkdirSync(join(cpuProfDir, `${pathName}-${role}`), { recursive: true });
        flags.push('--cpu-prof', '--cpu-prof-dir', join(cpuProfDir, `${pathName}-${role}`));
      }
      const env = {
        PATH: basePath,
        BOWLINE_BIND_ADDRESS: '127.0.0.1',
        PROXY_ADMIN_PORT: String(ports[role].admin),
        PROXY_ADMIN_TOKEN,
        PROXY_OUTBOUND_PORT: String(ports[role].outbound),
        PROXY_INBOUND_PORT: String(ports[role].inbound),
        PROXY_INSTANCE_IP: '127.0.0.1',
        PROXY_APP_HOST: '127.0.0.1',
        PROXY_NAMESPACE: 'default',
        PROXY_SERVICE_ACCOUNT: role,
        PROXY_CITADEL_ADDRESS: `127.0.0.1:${grpcPort}`,
        PROXY_CA_ROOTS_FILE: rootsFile,
        BOWLINE_JOIN_TOKEN: await mint(role),
        PROXY_BOOTSTRAP_FILE: bootstrap[role],
        PROXY_ACCESS_LOG: 'stdout',
      };
      if (role === 'server') {
        env.PROXY_SERVICE = 'server';
        env.PROXY_SERVICE_PORTS = `${SERVICE_PORT}:${appPort}`;
        env.PROXY_LABELS = 'app=server';
        if (authz) {
          env.PROXY_POLICY_URL = `http://127.0.0.1:${policyAdminPort}`;
          env.PROXY_POLICY_TOKEN = ADMIN_TOKEN;
          env.PROXY_DECISION_LOGS = decisionLogs;
          env.PROXY_AUTHZ_CACHE_ENTRIES = String(authzCache);
          if (authzRego) env.PROXY_POLICY_NAME = REGO_POLICY_NAME;
        }
      }
      writeFileSync(
        join(dir, `${role}.env`),
        Object.entries(env)
          .map(([k, v]) => `${k}=${/TOKEN/.test(k) ? '<redacted>' : v}`)
          .join('\n') + '\n',
      );
      const handle = startProcess(`bowline ${role} sidecar`, process.execPath, [...flags, main], {
        cwd: root,
        logFile: join(dir, `${role}-proxy.log`),
        env,
      });
      cleanups.push(() => handle.stop(15_000));
      sidecars[role] = handle;
    }

    const headers = { Host: `server:${SERVICE_PORT}` };
    try {
      for (const role of ['server', 'client'])
        await waitUntil(async () => (await httpRequest({ port: ports[role].admin, path: '/ready' })).status === 200, {
          processes: [sidecars[role], citadel],
          what: `the ${role} sidecar's GET /ready to answer 200`,
          timeoutMs: 60_000,
        });
      await waitUntil(() => checkPath(ports.client.outbound, headers), {
        processes: [sidecars.client, sidecars.server],
        what: 'a request through the Bowline pair to reach the app',
        timeoutMs: 15_000,
      });
    } catch (error) {
      // What each running sidecar's /ready says (it names what is missing).
      const readyAnswers = [];
      for (const role of ['client', 'server']) {
        if (sidecars[role].exitInfo) continue;
        const answer = await httpRequest({ port: ports[role].admin, path: '/ready' }).then(
          (r) => `HTTP ${r.status} ${r.body.toString().slice(0, 300)}`,
          (e) => `no answer (${e.message})`,
        );
        readyAnswers.push(`  ${role} sidecar GET /ready: ${answer}`);
      }
      throw new BowlineNotReady(
        [
          `Bowline's sidecar pair (${pathName}) did not become ready: ${error.message.split('\n')[0].replace(/; its log .*$/, '')}.`,
          ...readyAnswers,
          `  client sidecar log (${sidecars.client.logFile}) ends:\n${indent(logSummary(sidecars.client.logFile))}`,
          `  server sidecar log (${sidecars.server.logFile}) ends:\n${indent(logSummary(sidecars.server.logFile))}`,
          '  The harness assumes the proxy contract described in bench/mesh/README.md ("What the Bowline path',
          '  needs from the proxy"). Measure the other paths meanwhile with --paths direct,nginx.',
        ].join('\n'),
      );
    }
    return {
      name: pathName,
      port: ports.client.outbound,
      headers,
      proxies: [
        {
          role: 'client side',
          pids: () => [sidecars.client.pid, ...childPids(sidecars.client.pid)],
          profileDir: cpuProfDir && join(cpuProfDir, `${pathName}-client`),
        },
        {
          role: 'server side',
          pids: () => [sidecars.server.pid, ...childPids(sidecars.server.pid)],
          profileDir: cpuProfDir && join(cpuProfDir, `${pathName}-server`),
        },
      ],
      adminPorts: { client: ports.client.admin, server: ports.server.admin },
      ...(authz ? { authorizationHistogram: () => authorizationHistogram(ports.server.admin) } : {}),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * Galley and the policy service on the bench's database, the AuthorizationPolicies applied
 * through Galley's REST API, and the policy service serving a bundle for namespace default.
 * Returns the policy service's admin port.
 */
async function startAuthorization({ root, dir, basePath, dbUrl, cleanups, citadel, rego }) {
  const ports = {
    galleyGrpc: await freePort(),
    galleyAdmin: await freePort(),
    policyGrpc: await freePort(),
    policyAdmin: await freePort(),
  };
  const common = { PATH: basePath, BOWLINE_BIND_ADDRESS: '127.0.0.1', DATABASE_URL: dbUrl.toString() };
  const galley = startProcess('galley', process.execPath, [join(root, 'dist/apps/galley/src/main.js')], {
    cwd: root,
    logFile: join(dir, 'galley.log'),
    env: {
      ...common,
      GALLEY_GRPC_PORT: String(ports.galleyGrpc),
      GALLEY_ADMIN_PORT: String(ports.galleyAdmin),
      BOWLINE_ADMIN_TOKEN: ADMIN_TOKEN,
    },
  });
  cleanups.push(() => galley.stop());
  const policy = startProcess('policy', process.execPath, [join(root, 'dist/apps/policy/src/main.js')], {
    cwd: root,
    logFile: join(dir, 'policy.log'),
    env: {
      ...common,
      POLICY_GRPC_PORT: String(ports.policyGrpc),
      POLICY_ADMIN_PORT: String(ports.policyAdmin),
      POLICY_GALLEY_ADDRESS: `127.0.0.1:${ports.galleyGrpc}`,
      POLICY_OPA_PATH: join(root, '.tools', 'opa'),
      BOWLINE_ADMIN_TOKEN: ADMIN_TOKEN,
    },
  });
  cleanups.push(() => policy.stop());
  const processes = [citadel, galley, policy];
  for (const [what, port] of [
    ['Galley', ports.galleyAdmin],
    ['the policy service', ports.policyAdmin],
  ])
    await waitUntil(async () => (await httpRequest({ port, path: '/readyz' })).status === 200, {
      processes,
      what: `${what} /readyz`,
      timeoutMs: 60_000,
    });
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const body = JSON.stringify(authorizationPolicies());
  const applied = await httpRequest({
    port: ports.galleyAdmin,
    path: '/v1/resources:apply',
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    body,
  });
  if (applied.status !== 200) throw new Error(`Galley apply: HTTP ${applied.status} ${applied.body}`);
  if (rego) {
    const policyBody = JSON.stringify(regoPolicy());
    const created = await httpRequest({
      port: ports.policyAdmin,
      path: '/v1/policies',
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(policyBody) },
      body: policyBody,
    });
    if (created.status !== 201) throw new Error(`the Rego policy: HTTP ${created.status} ${created.body}`);
  }
  await waitUntil(
    async () => {
      const res = await httpRequest({
        port: ports.policyAdmin,
        path: '/v1/bundles/authz?namespace=default',
        headers: auth,
      });
      return res.status === 200 && JSON.parse(res.body.toString()).istio?.policies?.length === AUTHZ_POLICY_COUNT;
    },
    { processes, what: `a policy bundle with ${AUTHZ_POLICY_COUNT} AuthorizationPolicies`, timeoutMs: 60_000 },
  );
  return ports.policyAdmin;
}

function indent(text) {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
