import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initialSequenceNumber } from './isn.ts';

const key = Buffer.alloc(32, 1);
const a = Buffer.from([10, 99, 0, 1]);
const b = Buffer.from([10, 99, 0, 2]);

test('ISN: same key, tuple and time give the same number; any of them changed gives another', () => {
  const base = initialSequenceNumber(key, 1000, a, 40000, b, 80);
  assert.equal(initialSequenceNumber(key, 1000, a, 40000, b, 80), base);
  assert.ok(Number.isInteger(base) && base >= 0 && base < 2 ** 32);
  assert.notEqual(initialSequenceNumber(Buffer.alloc(32, 2), 1000, a, 40000, b, 80), base);
  assert.notEqual(initialSequenceNumber(key, 1000, a, 40001, b, 80), base);
  assert.notEqual(initialSequenceNumber(key, 1000, a, 40000, b, 81), base);
  assert.notEqual(initialSequenceNumber(key, 1000, b, 40000, a, 80), base);
});

test('ISN: the same tuple advances with the 4 µs clock (a new incarnation starts above the old)', () => {
  const t0 = initialSequenceNumber(key, 1000, a, 40000, b, 80);
  const t1 = initialSequenceNumber(key, 1001, a, 40000, b, 80);
  assert.equal((t1 - t0) >>> 0, 250);
});
