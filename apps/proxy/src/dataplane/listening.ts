import type { Server as HttpServer } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';

/** Listens on `host:port` (0 = any free port); resolves with the port bound. */
export function listenOn(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * Stops accepting, closes idle keep-alive connections and asks the others to end; resolves when
 * the listener is closed (requests in flight finish first).
 */
export function closeListener(server: NetServer, http1: HttpServer, sockets: ReadonlySet<Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    http1.closeIdleConnections();
    for (const socket of sockets) socket.end();
  });
}
