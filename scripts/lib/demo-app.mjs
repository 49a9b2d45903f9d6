// The demo workload `npm start` and docker-compose.yml put behind a sidecar: an HTTP server
// that answers every request with what it received (method, path, headers, body size) as JSON,
// so a request through the mesh shows what the sidecars added (x-forwarded-client-cert,
// x-request-id, x-forwarded-proto).
import { createServer } from 'node:http';

/** Starts the demo app on host:port; resolves with the port it listens on and a stop function. */
export function startDemoApp({ host = '127.0.0.1', port = 8090, name = 'demo', log = () => {} } = {}) {
  const server = createServer((req, res) => {
    let size = 0;
    req.on('data', (chunk) => (size += chunk.length));
    req.on('end', () => {
      const body = JSON.stringify(
        { app: name, method: req.method, path: req.url, headers: req.headers, bodyBytes: size },
        null,
        2,
      );
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${body}\n`);
      log(
        `${req.method} ${req.url} from ${req.socket.remoteAddress}` +
          (req.headers['x-forwarded-client-cert'] ? ` xfcc=${req.headers['x-forwarded-client-cert']}` : ''),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        port: server.address().port,
        stop: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
