import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { AccessLog } from './access-log';
import { IstioMetrics } from './istio-metrics';
import { Reporters } from './reporters';
import type { RequestRecord, RequestReporter, TcpRecord, TcpReporter } from './types';

const RECORD: RequestRecord = {
  reporter: 'destination',
  startTime: new Date('2025-01-02T03:04:05.678Z'),
  durationMs: 3,
  method: 'GET',
  path: '/',
  authority: 'echo',
  protocol: 'http',
  httpVersion: 'HTTP/1.1',
  responseCode: 200,
  flags: [],
  requestBytes: 0,
  responseBytes: 2,
  sourcePrincipal: 'unknown',
  destinationPrincipal: 'unknown',
  sourceWorkload: 'client',
  sourceNamespace: 'default',
  destinationWorkload: 'echo',
  destinationNamespace: 'default',
  destinationService: 'echo.default.svc.cluster.local',
  destinationServiceName: 'echo',
  connectionSecurityPolicy: 'none',
};

const TCP: TcpRecord = { ...RECORD, opened: true, sentBytes: 1, receivedBytes: 1 };

describe('Reporters', () => {
  it('gives requests to every request reporter and TCP events to those that take them', () => {
    const seen: string[] = [];
    const requestsOnly: RequestReporter = { report: () => seen.push('requests-only') };
    const tcpOnly: TcpReporter = { reportTcp: () => seen.push('tcp-only') };
    const both: RequestReporter & TcpReporter = {
      report: () => seen.push('both'),
      reportTcp: () => seen.push('both-tcp'),
    };
    const reporters = new Reporters([requestsOnly, tcpOnly, both]);
    reporters.report(RECORD);
    reporters.reportTcp(TCP);
    assert.deepEqual(seen, ['requests-only', 'both', 'tcp-only', 'both-tcp']);
  });

  it('keeps going past a reporter that throws, and tells onError', () => {
    const errors: unknown[] = [];
    const seen: number[] = [];
    const reporters = new Reporters(
      [
        {
          report: () => {
            throw new Error('broken');
          },
        },
        { report: (r: RequestRecord) => seen.push(r.responseCode) },
      ],
      (error) => errors.push(error),
    );
    assert.doesNotThrow(() => reporters.report(RECORD));
    assert.deepEqual(seen, [200]);
    assert.match(String(errors[0]), /broken/);
  });

  it('feeds the Istio metrics and the access log together', async () => {
    const chunks: string[] = [];
    const sink = new Writable({
      write: (chunk, _encoding, callback) => {
        chunks.push(String(chunk));
        callback();
      },
    });
    const metrics = new IstioMetrics();
    const log = new AccessLog({ stream: sink, onDrop: (n) => metrics.recordAccessLogDrops(n) });
    const reporters = new Reporters([metrics, log]);
    reporters.report(RECORD);
    reporters.reportTcp(TCP);
    await log.close();
    assert.equal(chunks.join('').trim().split('\n').length, 1);
    const text = await metrics.render();
    assert.match(text, /^istio_requests_total\{.*\} 1$/m);
    assert.match(text, /^istio_tcp_connections_opened_total\{.*\} 1$/m);
  });
});
