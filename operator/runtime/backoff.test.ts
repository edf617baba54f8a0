import assert from 'node:assert/strict';
import { test } from 'node:test';
import { delayFor, KeyedBackoff } from './backoff.ts';

test('delays double per consecutive failure and stop at the cap', () => {
  const o = { baseMs: 100, maxMs: 1000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => delayFor(n, o)),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(delayFor(10_000, o), 1000);
  assert.equal(delayFor(0, o), 0);
});

test('keys back off independently and forget resets one key', () => {
  const b = new KeyedBackoff({ baseMs: 10, maxMs: 10_000 });
  assert.equal(b.next('a'), 10);
  assert.equal(b.next('a'), 20);
  assert.equal(b.next('b'), 10);
  b.forget('a');
  assert.equal(b.failures('a'), 0);
  assert.equal(b.next('a'), 10);
  assert.equal(b.failures('b'), 1);
});
