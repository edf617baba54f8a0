import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedBackoff } from './backoff.ts';
import { type Scheduler, WorkQueue } from './workqueue.ts';

// A hand-driven clock: timers fire only when advance() passes their due time.
function manualTime() {
  let now = 0;
  const timers: { due: number; fn: () => void; live: boolean }[] = [];
  const schedule: Scheduler = (fn, ms) => {
    const t = { due: now + ms, fn, live: true };
    timers.push(t);
    return () => {
      t.live = false;
    };
  };
  const advance = (ms: number) => {
    now += ms;
    for (const t of timers.filter((t) => t.live && t.due <= now).sort((a, b) => a.due - b.due)) {
      t.live = false;
      t.fn();
    }
  };
  return { schedule, advance, now: () => now, pending: () => timers.filter((t) => t.live).length };
}

test('a key added many times while queued is delivered once', async () => {
  const q = new WorkQueue();
  q.add('a');
  q.add('b');
  q.add('a');
  q.add('a');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(q.length, 0);
});

test('a key added while being processed is not handed to a second worker until done()', async () => {
  const q = new WorkQueue();
  q.add('a');
  const k = await q.get();
  q.add('a');
  assert.equal(q.length, 0, 'not queued while processing');
  let second: string | undefined;
  const p = q.get().then((x) => {
    second = x;
  });
  await Promise.resolve();
  assert.equal(second, undefined);
  q.done(k!);
  await p;
  assert.equal(second, 'a');
});

test('a waiting worker is woken by add', async () => {
  const q = new WorkQueue();
  const p = q.get();
  q.add('x');
  assert.equal(await p, 'x');
});

test('addAfter keeps the earliest delay for a key', () => {
  const t = manualTime();
  const q = new WorkQueue({ schedule: t.schedule, now: t.now });
  q.addAfter('a', 1000);
  q.addAfter('a', 5000);
  q.addAfter('a', 100);
  assert.equal(t.pending(), 1);
  t.advance(99);
  assert.equal(q.length, 0);
  t.advance(1);
  assert.equal(q.length, 1);
  t.advance(10_000);
  assert.equal(q.length, 1, 'the cancelled timers never fire');
});

test('addRateLimited backs off exponentially per key and forget resets', () => {
  const t = manualTime();
  const q = new WorkQueue({
    schedule: t.schedule,
    now: t.now,
    backoff: new KeyedBackoff({ baseMs: 10, maxMs: 100 }),
  });
  assert.equal(q.addRateLimited('a'), 10);
  assert.equal(q.addRateLimited('a'), 20);
  assert.equal(q.addRateLimited('a'), 40);
  assert.equal(q.failures('a'), 3);
  q.forget('a');
  assert.equal(q.addRateLimited('a'), 10);
});

test('shutdown wakes waiting workers with undefined and drops delayed keys', async () => {
  const t = manualTime();
  const q = new WorkQueue({ schedule: t.schedule, now: t.now });
  q.addAfter('later', 50);
  const p = q.get();
  q.shutdown();
  assert.equal(await p, undefined);
  t.advance(100);
  assert.equal(q.length, 0);
  q.add('x');
  assert.equal(await q.get(), undefined);
});

test('metrics see adds, retries and depth', async () => {
  const seen = { added: 0, retried: 0, depth: [] as number[] };
  const q = new WorkQueue({
    metrics: {
      added: () => seen.added++,
      retried: () => seen.retried++,
      depth: (n) => seen.depth.push(n),
      queued: () => {},
    },
  });
  q.add('a');
  q.add('a');
  q.add('b');
  await q.get();
  q.addRateLimited('a');
  q.shutdown();
  assert.equal(seen.added, 2);
  assert.equal(seen.retried, 1);
  assert.deepEqual(seen.depth, [1, 2, 1]);
});
