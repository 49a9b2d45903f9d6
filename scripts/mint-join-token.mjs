#!/usr/bin/env node
// Prepares a sidecar's start: mints a join token on Citadel's admin API and writes it to a
// file (mode 0600, for BOWLINE_JOIN_TOKEN_FILE), and writes Citadel's trust bundle (for
// PROXY_CA_ROOTS_FILE). docker-compose.yml runs it as the one-shot `proxy-init` service.
//
//   node scripts/mint-join-token.mjs --citadel-url http://127.0.0.1:8081 \
//     --admin-token-file .bowline/admin-token --namespace default --service-account demo \
//     --max-uses 100 --token-out /tmp/demo/join-token --bundle-out /tmp/demo/ca-roots.pem
//
// The admin token comes from --admin-token-file, else BOWLINE_ADMIN_TOKEN, else the file in
// BOWLINE_ADMIN_TOKEN_FILE. Neither token is ever printed.
import { parseArgs } from 'node:util';
import {
  CitadelAdminError,
  fetchTrustBundle,
  mintJoinToken,
  readAdminToken,
  waitForCitadel,
  writeFileAtomically,
} from './lib/citadel-admin.mjs';

const USAGE = `usage: node scripts/mint-join-token.mjs --service-account <sa> --token-out <file> [options]
  --citadel-url <url>        Citadel's admin API (default http://127.0.0.1:8081)
  --admin-token-file <file>  admin token (default: BOWLINE_ADMIN_TOKEN, else BOWLINE_ADMIN_TOKEN_FILE)
  --namespace <ns>           namespace of the workload (default "default")
  --service-account <sa>     service account of the workload
  --max-uses <n>             how many certificates the token may obtain (Citadel's default: 1)
  --ttl-seconds <s>          how long the token may be used (Citadel's default: 3600)
  --token-out <file>         where the join token is written (mode 0600)
  --bundle-out <file>        where the trust bundle (PEM) is written (mode 0644)
  --wait-seconds <s>         how long to wait for Citadel's /readyz first (default 60)`;

function usage(message) {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(64);
}

function integer(name, value) {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) usage(`--${name} must be a whole number, got "${value}"`);
  return number;
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'citadel-url': { type: 'string', default: 'http://127.0.0.1:8081' },
        'admin-token-file': { type: 'string' },
        namespace: { type: 'string', default: 'default' },
        'service-account': { type: 'string' },
        'max-uses': { type: 'string' },
        'ttl-seconds': { type: 'string' },
        'token-out': { type: 'string' },
        'bundle-out': { type: 'string' },
        'wait-seconds': { type: 'string', default: '60' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    usage(error.message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values['service-account']) usage('--service-account is required');
  if (!values['token-out']) usage('--token-out is required');
  const citadelUrl = values['citadel-url'];
  const adminToken = await readAdminToken({
    file: values['admin-token-file'] ?? process.env.BOWLINE_ADMIN_TOKEN_FILE,
    token: values['admin-token-file'] ? undefined : process.env.BOWLINE_ADMIN_TOKEN,
  });
  await waitForCitadel(citadelUrl, integer('wait-seconds', values['wait-seconds']) * 1000);
  const minted = await mintJoinToken({
    citadelUrl,
    adminToken,
    namespace: values.namespace,
    serviceAccount: values['service-account'],
    maxUses: integer('max-uses', values['max-uses']),
    ttlSeconds: integer('ttl-seconds', values['ttl-seconds']),
  });
  await writeFileAtomically(values['token-out'], `${minted.token}\n`, 0o600);
  process.stdout.write(
    `minted join token ${minted.id ?? ''} for ${values.namespace}/${values['service-account']}` +
      ` (max uses ${minted.maxUses ?? '?'}, expires ${minted.expiresAt ?? '?'}); written to ${values['token-out']}\n`,
  );
  if (values['bundle-out']) {
    await writeFileAtomically(values['bundle-out'], await fetchTrustBundle({ citadelUrl, adminToken }), 0o644);
    process.stdout.write(`trust bundle written to ${values['bundle-out']}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`mint-join-token: ${error instanceof CitadelAdminError ? error.message : error.stack}\n`);
  process.exit(1);
});
