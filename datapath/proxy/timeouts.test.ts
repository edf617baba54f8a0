// The coarse timeout tick: tick sizes, idle detection from byte counters, lazy removal.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idleWatch, MAX_TICK_MS, MIN_TICK_MS, Timeouts, tickFor } from './timeouts.ts';

test('the tick is an eighth of the shortest timeout, within its bounds', () => {
  assert.equal(tickFor(10_000, 3_600_000), MAX_TICK_MS);
  assert.equal(tickFor(1_000, 3_600_000), 125);
  assert.equal(tickFor(10_000, 400), 50);
  assert.equal(tickFor(50, 10_000), MIN_TICK_MS);
});

test('an idle watch fires once no byte has moved for the idle time, and not while bytes move', () => {
  let bytes = 0;
  let idle = 0;
  const w = idleWatch(
    1000,
    0,
    () => bytes,
    () => false,
    () => idle++,
  );
  for (let t = 100; t <= 3000; t += 100) {
    bytes += 1; // activity on every tick for 3 s, three times the idle time
    assert.equal(w(t), false);
  }
  assert.equal(idle, 0);
  assert.equal(w(3900), false, '900 ms quiet');
  assert.equal(w(4000), true, '1000 ms quiet');
  assert.equal(idle, 1);
});

test('a finished relay is dropped without firing', () => {
  let finished = false;
  let idle = 0;
  const w = idleWatch(
    1000,
    0,
    () => 0,
    () => finished,
    () => idle++,
  );
  assert.equal(w(500), false);
  finished = true;
  assert.equal(w(5000), true);
  assert.equal(idle, 0);
});

test('watches are looked at on every tick until they report done, then dropped; the interval stops when none is left', async () => {
  const t = new Timeouts(10);
  const seen: number[] = [];
  t.watch((now) => {
    seen.push(now);
    return now >= 3;
  });
  t.watch(() => true);
  assert.equal(t.size, 2);
  t.tick(1);
  assert.equal(t.size, 1, 'the done one dropped');
  t.tick(2);
  t.tick(3);
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(t.size, 0);
  const never = () => {
    throw new Error('unwatched, never looked at');
  };
  t.watch(never);
  t.unwatch(never);
  t.tick(4);
  assert.equal(t.size, 0);
  // and a real interval drives it
  let fired = false;
  t.watch(() => {
    fired = true;
    return true;
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(fired);
  assert.equal(t.size, 0);
});
