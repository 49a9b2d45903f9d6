import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { children, DerError, oid, readNode, readOid, readRoot, readTime, seq, Tag, time, unsignedInteger } from './der';

describe('der', () => {
  it('encodes INTEGERs minimally and non-negative', () => {
    assert.equal(unsignedInteger(Buffer.from('00007f', 'hex')).toString('hex'), '02017f');
    assert.equal(unsignedInteger(Buffer.from('80', 'hex')).toString('hex'), '02020080');
    assert.equal(unsignedInteger(Buffer.from('0000', 'hex')).toString('hex'), '020100');
  });

  it('uses UTCTime before 2050 and GeneralizedTime from 2050 (RFC 5280), and reads both back', () => {
    const before = time(new Date('2049-12-31T23:59:59.999Z'));
    const after = time(new Date('2050-01-01T00:00:00Z'));
    assert.equal(before[0], Tag.UTC_TIME);
    assert.equal(before.subarray(2).toString('ascii'), '491231235959Z');
    assert.equal(after[0], Tag.GENERALIZED_TIME);
    assert.equal(after.subarray(2).toString('ascii'), '20500101000000Z');
    assert.equal(readTime(readRoot(before, Tag.UTC_TIME)).toISOString(), '2049-12-31T23:59:59.000Z');
    assert.equal(readTime(readRoot(after, Tag.GENERALIZED_TIME)).toISOString(), '2050-01-01T00:00:00.000Z');
  });

  it('round-trips OIDs, including multi-byte arcs', () => {
    for (const dotted of ['1.2.840.113549.1.9.14', '2.5.29.17', '1.3.6.1.5.5.7.3.2', '2.999.1']) {
      assert.equal(readOid(readRoot(oid(dotted), Tag.OID)), dotted);
    }
  });

  it('encodes and reads long lengths', () => {
    const big = seq(Buffer.alloc(300, 1));
    assert.equal(big.subarray(0, 4).toString('hex'), '3082012c');
    assert.equal(readRoot(big, Tag.SEQUENCE).end, big.length);
  });

  it('refuses BER and truncation', () => {
    assert.throws(() => readNode(Buffer.from('3080', 'hex')), DerError); // indefinite length
    assert.throws(() => readNode(Buffer.from('30810100', 'hex')), /non-minimal/);
    assert.throws(() => readNode(Buffer.from('3005020100', 'hex')), /truncated/);
    assert.throws(() => readRoot(Buffer.from('300002', 'hex'), Tag.SEQUENCE), /trailing/);
    assert.throws(() => children(readRoot(Buffer.from('3003020500', 'hex'), Tag.SEQUENCE)), /truncated/);
  });
});
