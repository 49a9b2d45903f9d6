import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { AccessLog, accessLogEntry } from './access-log';
import type { RequestRecord } from './types';

const RECORD: RequestRecord = {
  reporter: 'destination',
  startTime: new Date('2025-01-02T03:04:05.678Z'),
  durationMs: 12.6,
  method: 'POST',
  path: '/reviews/1?page=2',
  authority: 'reviews.shop:9080',
  protocol: 'http',
  httpVersion: 'HTTP/1.1',
  responseCode: 201,
  flags: [],
  requestBytes: 17,
  responseBytes: 512,
  requestId: '6f1c-42',
  userAgent: 'curl/8.5.0',
  upstreamHost: '127.0.0.1:9080',
  upstreamCluster: 'inbound|9080||',
  routeName: 'default',
  sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/productpage',
  destinationPrincipal: 'spiffe://cluster.local/ns/shop/sa/reviews',
  sourceWorkload: 'productpage-v1',
  sourceNamespace: 'shop',
  destinationWorkload: 'reviews-v1',
  destinationNamespace: 'shop',
  destinationService: 'reviews.shop.svc.cluster.local',
  destinationServiceName: 'reviews',
  connectionSecurityPolicy: 'mutual_tls',
};

/** A Writable that keeps what it is given; `delayMs` makes each write take that long to complete. */
class Sink extends Writable {
  readonly chunks: string[] = [];
  constructor(options: { highWaterMark?: number; delayMs?: number } = {}) {
    super({ highWaterMark: options.highWaterMark ?? 16 * 1024, decodeStrings: false });
    this.delayMs = options.delayMs ?? 0;
  }
  private readonly delayMs: number;
  override _write(chunk: string, _encoding: string, callback: (error?: Error | null) => void): void {
    this.chunks.push(String(chunk));
    if (this.delayMs > 0) setTimeout(() => callback(), this.delayMs);
    else callback();
  }
  lines(): Record<string, unknown>[] {
    return this.chunks
      .join('')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

describe('accessLogEntry', () => {
  it("names Envoy's fields and fills them from the record", () => {
    assert.deepEqual(accessLogEntry(RECORD), {
      start_time: '2025-01-02T03:04:05.678Z',
      method: 'POST',
      path: '/reviews/1?page=2',
      protocol: 'HTTP/1.1',
      response_code: 201,
      response_flags: '-',
      bytes_received: 17,
      bytes_sent: 512,
      duration: 13,
      user_agent: 'curl/8.5.0',
      request_id: '6f1c-42',
      authority: 'reviews.shop:9080',
      upstream_host: '127.0.0.1:9080',
      upstream_cluster: 'inbound|9080||',
      route_name: 'default',
      downstream_peer_principal: 'spiffe://cluster.local/ns/shop/sa/productpage',
      upstream_peer_principal: null,
      upstream_transport_failure_reason: null,
    });
  });

  it('joins response flags with ",", and on outbound traffic names the upstream peer', () => {
    const entry = accessLogEntry({
      ...RECORD,
      reporter: 'source',
      httpVersion: 'HTTP/2',
      responseCode: 503,
      flags: ['UF', 'URX'],
      upstreamTransportFailureReason: 'TLS_error: certificate verify failed',
      userAgent: undefined,
      requestId: undefined,
    });
    assert.equal(entry.response_flags, 'UF,URX');
    assert.equal(entry.protocol, 'HTTP/2');
    assert.equal(entry.downstream_peer_principal, null);
    assert.equal(entry.upstream_peer_principal, 'spiffe://cluster.local/ns/shop/sa/reviews');
    assert.equal(entry.upstream_transport_failure_reason, 'TLS_error: certificate verify failed');
    assert.equal(entry.user_agent, null);
    assert.equal(entry.request_id, null);
    assert.equal(accessLogEntry({ ...RECORD, flags: ['NR'] }).response_flags, 'NR');
    assert.equal(accessLogEntry({ ...RECORD, flags: ['DC'], responseFlagsText: 'DC' }).response_flags, 'DC');
    assert.equal(accessLogEntry({ ...RECORD, sourcePrincipal: 'unknown' }).downstream_peer_principal, null);
  });

  it('logs a TCP connection without HTTP fields, and cuts over-long values', () => {
    const tcp = accessLogEntry({ ...RECORD, protocol: 'tcp', method: '', path: '', httpVersion: '' });
    assert.equal(tcp.method, null);
    assert.equal(tcp.path, null);
    assert.equal(tcp.protocol, null);
    assert.equal(tcp.response_code, 0);
    assert.equal(accessLogEntry({ ...RECORD, path: `/${'a'.repeat(100)}` }, 10).path, '/aaaaaaaaa');
  });

  it('logs only its own fields: nothing else a record carries, such as headers', () => {
    const record = { ...RECORD, authorization: 'Bearer secret', cookie: 'session=secret', headers: { cookie: 'x' } };
    const line = JSON.stringify(accessLogEntry(record));
    assert.doesNotMatch(line, /secret|cookie|authorization/i);
  });
});

describe('AccessLog', () => {
  it('writes one JSON line per record, in batches, never during report()', async () => {
    const sink = new Sink();
    const log = new AccessLog({ stream: sink, flushIntervalMs: 20 });
    log.report(RECORD);
    log.report({ ...RECORD, responseCode: 404, flags: ['NR'] });
    assert.equal(sink.chunks.length, 0);
    await sleep(80);
    assert.equal(sink.chunks.length, 1);
    const lines = sink.lines();
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.response_code, 201);
    assert.equal(lines[1]!.response_flags, 'NR');
    assert.equal(log.dropped, 0);
  });

  it('flushes early once flushBytes are buffered', async () => {
    const sink = new Sink();
    const log = new AccessLog({ stream: sink, flushIntervalMs: 60_000, flushBytes: 1024 });
    for (let i = 0; i < 5; i++) log.report(RECORD);
    assert.equal(sink.chunks.length, 0);
    await sleep(10);
    assert.equal(sink.lines().length, 5);
    await log.close();
  });

  it('keeps lines while the stream is backed up, drops and counts them beyond the bound, and catches up', async () => {
    const sink = new Sink({ highWaterMark: 1, delayMs: 30 });
    const drops: number[] = [];
    const log = new AccessLog({
      stream: sink,
      flushIntervalMs: 5,
      maxBufferedBytes: 3 * 1024,
      onDrop: (n) => drops.push(n),
    });
    log.report(RECORD);
    log.flush(); // write() returns false: the stream is now backed up
    for (let i = 0; i < 20; i++) log.report({ ...RECORD, requestId: `r${i}` });
    assert.ok(log.dropped > 0, 'some lines were dropped');
    assert.equal(
      drops.reduce((a, b) => a + b, 0),
      log.dropped,
    );
    await log.close();
    const lines = sink.lines();
    assert.equal(lines.length, 21 - log.dropped);
    assert.deepEqual(
      lines.slice(1).map((l) => l.request_id),
      Array.from({ length: 20 - log.dropped }, (_, i) => `r${i}`),
    );
  });

  it('drops lines once its stream failed', async () => {
    const sink = new Writable({
      write: (_chunk, _encoding, callback) => callback(new Error('EPIPE')),
    });
    const log = new AccessLog({ stream: sink, flushIntervalMs: 1 });
    log.report(RECORD);
    log.flush();
    await sleep(10);
    log.report(RECORD);
    assert.equal(log.dropped, 1);
    await log.close();
  });

  it('writes what is buffered on close()', async () => {
    const sink = new Sink();
    const log = new AccessLog({ stream: sink, flushIntervalMs: 60_000 });
    log.report(RECORD);
    await log.close();
    assert.equal(sink.lines().length, 1);
  });
});
