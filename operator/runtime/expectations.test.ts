import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Expectations } from './expectations.ts';

const clock = () => {
  const c = { now: 1000, read: () => c.now };
  return c;
};

test('an expectation is read back until the cache shows it, then forgotten', () => {
  const c = clock();
  const e = new Expectations<string>(30_000, c.read);
  e.set('ns/a', 'token-1');
  c.now += 10_000;
  assert.deepEqual(
    e.get('ns/a', () => false),
    { value: 'token-1', msLeft: 20_000 },
  );
  assert.equal(
    e.get('ns/a', (v) => v === 'token-1'),
    undefined,
  );
  // Forgotten: a later stale read does not bring it back.
  assert.equal(
    e.get('ns/a', () => false),
    undefined,
  );
});

test('an expectation the cache never shows ends after its time, not a millisecond before', () => {
  const c = clock();
  const e = new Expectations<number>(30_000, c.read);
  e.set('ns/a', 1);
  c.now += 29_999;
  assert.equal(e.get('ns/a', () => false)?.msLeft, 1);
  c.now += 1;
  assert.equal(
    e.get('ns/a', () => false),
    undefined,
  );
});

test('keys are separate; set replaces and restarts the time; delete forgets', () => {
  const c = clock();
  const e = new Expectations<number>(30_000, c.read);
  e.set('ns/a', 1);
  e.set('ns/b', 2);
  c.now += 20_000;
  e.set('ns/a', 3);
  c.now += 15_000;
  assert.deepEqual(
    e.get('ns/a', () => false),
    { value: 3, msLeft: 15_000 },
  );
  assert.equal(
    e.get('ns/b', () => false),
    undefined,
  );
  e.delete('ns/a');
  assert.equal(
    e.get('ns/a', () => false),
    undefined,
  );
});
