import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import pino from 'pino';
import { createRootCa, PkiError } from '#libs/pki';
import { freePort, until } from '#libs/testing';
import { ProxyError } from './errors';
import { WorkloadIdentity, type WorkloadIdentityOptions } from './workload-identity';

const ROOT = createRootCa({
  keyType: 'ecdsa-p256',
  commonName: 'root',
  organization: 'cluster.local',
  now: new Date(),
});

/** Options for an identity whose Citadel is `address`; log lines are collected in `lines`. */
function options(address: string, lines: string[], attempts: string[]): WorkloadIdentityOptions {
  const counter: Interceptor = (callOptions, nextCall) => {
    attempts.push(callOptions.method_definition.path);
    return new InterceptingCall(nextCall(callOptions));
  };
  return {
    citadelAddress: address,
    citadelServerName: 'citadel',
    caRootsPem: ROOT.certPem,
    joinToken: 'bjt_secret-join-token-never-logged',
    certTtlMs: 3_600_000,
    namespace: 'shop',
    serviceAccount: 'cart',
    logger: pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    ),
    interceptors: [counter],
  };
}

describe('WorkloadIdentity without Citadel', () => {
  it('keeps retrying with growing delays while Citadel is unreachable; start() rejects only on stop()', async () => {
    const lines: string[] = [];
    const attempts: string[] = [];
    const identity = new WorkloadIdentity(options(`127.0.0.1:${await freePort()}`, lines, attempts));
    try {
      let settled = false;
      const started = identity.start().finally(() => (settled = true));
      assert.equal(identity.start(), identity.start(), 'start() twice is the same wait');

      const first = Date.now();
      await until('three CreateCertificate attempts', async () => (attempts.length >= 3 ? true : undefined));
      // Backoff 200 ms, then 400 ms (each -20% at worst): not a tight loop. Load only adds time.
      const elapsed = Date.now() - first;
      assert.ok(elapsed >= 160 + 320 - 20, `3 attempts took only ${elapsed} ms`);
      assert.ok(attempts.every((path) => path === '/istio.v1.auth.IstioCertificateService/CreateCertificate'));
      assert.equal(settled, false, 'start() is still waiting');
      assert.equal(identity.current(), undefined);
      assert.equal(identity.trustDomain(), undefined);
      const status = identity.status();
      assert.match(status.lastError ?? '', /Citadel is unreachable \(UNAVAILABLE\)/);
      // A retry is scheduled (polled: on a loaded machine the check can land while one is being made).
      await until('a retry scheduled in the future', async () => {
        const next = identity.status().nextRenewal;
        return next && next.getTime() > Date.now() - 50 ? true : undefined;
      });
      assert.equal(status.eventsConnected, false);

      identity.stop();
      await assert.rejects(
        started,
        (error: unknown) => error instanceof ProxyError && error.code === 'IDENTITY_STOPPED',
      );
      await assert.rejects(identity.rotateNow('after stop'), ProxyError);
      const count = attempts.length;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(attempts.length, count, 'no attempt after stop()');
      assert.equal(lines.join('').includes('bjt_secret-join-token-never-logged'), false);
    } finally {
      identity.stop();
    }
  });

  it('rotateNow() reports a failed attempt at once and leaves a retry scheduled', async () => {
    const attempts: string[] = [];
    const identity = new WorkloadIdentity(options(`127.0.0.1:${await freePort()}`, [], attempts));
    try {
      await assert.rejects(
        identity.rotateNow('operator asked'),
        (error: unknown) => error instanceof ProxyError && error.code === 'CITADEL_UNAVAILABLE',
      );
      assert.equal(attempts.length, 1);
      assert.ok(identity.status().nextRenewal);
    } finally {
      identity.stop();
    }
  });

  it('refuses an invalid identity, TTL or trust anchor at construction', () => {
    const base = options('127.0.0.1:1', [], []);
    assert.throws(() => new WorkloadIdentity({ ...base, namespace: 'Shop!' }), PkiError);
    assert.throws(() => new WorkloadIdentity({ ...base, certTtlMs: 10 }), RangeError);
    assert.throws(() => new WorkloadIdentity({ ...base, caRootsPem: 'no PEM here' }), RangeError);
  });
});
