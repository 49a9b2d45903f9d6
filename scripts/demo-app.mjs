#!/usr/bin/env node
// The demo workload on its own (docker-compose.yml's `demo` service, or an app to put a second
// sidecar next to): answers every request with what it received, as JSON.
//   DEMO_APP_HOST (default 127.0.0.1), DEMO_APP_PORT (8090), DEMO_APP_NAME (demo: the "app" field).
import { startDemoApp } from './lib/demo-app.mjs';

const host = process.env.DEMO_APP_HOST ?? '127.0.0.1';
const port = Number(process.env.DEMO_APP_PORT ?? 8090);
const name = process.env.DEMO_APP_NAME ?? 'demo';
const app = await startDemoApp({ host, port, name, log: (line) => process.stdout.write(`${line}\n`) });
process.stdout.write(`${name} app listening on ${host}:${app.port}\n`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => void app.stop().then(() => process.exit(0)));
}
