#!/usr/bin/env node
// A straightforward Node sidecar pair, the "plain Node http/https proxy" reference: no
// routing tables, no policy, no metrics, just what a first version would do with node:http and
// node:https. One process per role, configured by environment variables (set by run.mjs):
//   NODE_PAIR_ROLE=client  NODE_PAIR_LISTEN=<port> NODE_PAIR_UPSTREAM=<server-side port>
//   NODE_PAIR_ROLE=server  NODE_PAIR_LISTEN=<port> NODE_PAIR_UPSTREAM=<app port>
//   NODE_PAIR_CERTS=<dir with ca.pem, client.{pem,key}, server.{pem,key}>
// Client side: plain HTTP in, mTLS (TLS 1.3) out over kept-alive connections, the server's
// SPIFFE ID checked. Server side: mTLS in (client certificate required, SPIFFE ID read once per
// connection), plain HTTP to the app over kept-alive connections. Each side writes one JSON
// access-log line per request to stdout, as Bowline does.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import process from 'node:process';

const role = process.env.NODE_PAIR_ROLE;
const listenPort = Number(process.env.NODE_PAIR_LISTEN);
const upstreamPort = Number(process.env.NODE_PAIR_UPSTREAM);
const certs = process.env.NODE_PAIR_CERTS;
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/server';
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

const file = (name) => readFileSync(join(certs, name));

function forwardHeaders(headers) {
  const out = { ...headers };
  for (const name of HOP_BY_HOP) delete out[name];
  return out;
}

function accessLog(fields) {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
}

/** Sends `req` to the upstream with `agent` and streams the answer back to `res`. */
function proxy(req, res, { agent, transport, headers, reporter, peer }) {
  const start = process.hrtime.bigint();
  const startTime = new Date().toISOString();
  const upstream = transport.request(
    { agent, host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers },
    (answer) => {
      res.writeHead(answer.statusCode, forwardHeaders(answer.headers));
      answer.pipe(res);
      answer.on('end', () =>
        accessLog({
          start_time: startTime,
          reporter,
          method: req.method,
          path: req.url,
          authority: req.headers.host,
          response_code: answer.statusCode,
          duration_ms: Number(process.hrtime.bigint() - start) / 1e6,
          request_id: headers['x-request-id'],
          upstream_host: `127.0.0.1:${upstreamPort}`,
          peer,
        }),
      );
    },
  );
  upstream.on('error', (error) => {
    if (!res.headersSent) res.writeHead(503, { 'content-type': 'text/plain' });
    res.end(`upstream error: ${error.message}\n`);
  });
  req.pipe(upstream);
}

let server;
if (role === 'client') {
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 64,
    noDelay: true,
    ca: file('ca.pem'),
    cert: file('client.pem'),
    key: file('client.key'),
    minVersion: 'TLSv1.3',
    servername: 'outbound_.8080_._.server.default.svc.cluster.local',
    checkServerIdentity: (_host, cert) =>
      (cert.subjectaltname ?? '').split(', ').includes(`URI:${SERVER_ID}`)
        ? undefined
        : new Error(`server identity is not ${SERVER_ID}: ${cert.subjectaltname}`),
  });
  server = http.createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
    const headers = forwardHeaders(req.headers);
    headers['x-request-id'] ??= randomUUID();
    proxy(req, res, { agent, transport: https, headers, reporter: 'source' });
  });
} else if (role === 'server') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, noDelay: true });
  server = https.createServer(
    {
      ca: file('ca.pem'),
      cert: file('server.pem'),
      key: file('server.key'),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      keepAliveTimeout: 75_000,
    },
    (req, res) => {
      const socket = req.socket;
      // The peer's SPIFFE ID, read once per connection.
      socket.spiffeId ??=
        (socket.getPeerCertificate().subjectaltname ?? '')
          .split(', ')
          .find((san) => san.startsWith('URI:spiffe://'))
          ?.slice(4) ?? 'unknown';
      const headers = forwardHeaders(req.headers);
      headers['x-forwarded-client-cert'] = `By=${SERVER_ID};URI=${socket.spiffeId}`;
      proxy(req, res, { agent, transport: http, headers, reporter: 'destination', peer: socket.spiffeId });
    },
  );
} else {
  process.stderr.write('NODE_PAIR_ROLE must be client or server\n');
  process.exit(64);
}

server.listen(listenPort, '127.0.0.1', () => process.stderr.write(`node-pair ${role} listening on ${listenPort}\n`));
// A clean exit writes the --cpu-prof profile.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
