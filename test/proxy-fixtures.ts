import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import { until } from '#libs/testing';

// Helpers shared by the sidecar end-to-end tests (proxy*.e2e.ts).

const run = promisify(execFile);

/** Waits until `probe` holds (polling), failing after `timeoutMs` (10 s by default) with `what`. */
export function eventually(
  probe: () => boolean | Promise<boolean>,
  options: string | { what: string; timeoutMs?: number },
  timeoutMs?: number,
): Promise<true> {
  const { what, timeoutMs: limit } = typeof options === 'string' ? { what: options, timeoutMs } : options;
  return until(what, async () => ((await probe()) ? true : undefined), limit ?? 10_000);
}

/** An HTTP app that answers with what it received: path, headers, body size and SHA-256. */
export function echoApp(name: string): Server {
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ app: name, path: req.url, headers: req.headers, size, sha256: hash.digest('hex') }));
    });
  });
  return server;
}

export function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

/**
 * `curl` through a sidecar's outbound port, as an app would call `http://<host>/...`. A
 * connection refused or reset gives status 0 and curl's message.
 */
export async function curl(
  outbound: number,
  host: string,
  path: string,
  extra: string[] = [],
): Promise<{ status: number; body: string }> {
  const { stdout } = await run(
    'curl',
    [
      '-sS',
      '--max-time',
      '20',
      '-o',
      '-',
      '-w',
      '\n%{http_code}',
      '-H',
      `Host: ${host}`,
      ...extra,
      `http://127.0.0.1:${outbound}${path}`,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  ).catch((error: { stdout?: string; stderr?: string }) => ({
    stdout: `${error.stderr ?? ''}${error.stdout ?? ''}`.replace(/\n?(\d{3})?$/, '\n000'),
  }));
  const at = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
}
