import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REPLAY_WINDOW, ReplayWindow } from './replay.ts';

test('counter 0 is accepted once; duplicates are refused', () => {
  const w = new ReplayWindow();
  assert.equal(w.check(0), 'ok');
  assert.equal(w.check(0), 'duplicate');
  assert.equal(w.check(1), 'ok');
  assert.equal(w.check(1), 'duplicate');
});

test('out-of-order counters inside the window are accepted exactly once', () => {
  const w = new ReplayWindow();
  for (const c of [5, 3, 9, 4, 100, 6, 99, 2]) assert.equal(w.check(c), 'ok', `counter ${c}`);
  for (const c of [5, 3, 9, 100, 2]) assert.equal(w.check(c), 'duplicate');
});

test('a counter a whole window behind the newest is too old; the edge is still accepted', () => {
  const w = new ReplayWindow();
  assert.equal(w.check(10_000), 'ok');
  assert.equal(w.check(10_000 - REPLAY_WINDOW), 'too-old');
  assert.equal(w.check(10_000 - REPLAY_WINDOW + 1), 'ok');
});

test('a large jump clears the bitmap so old bits do not alias new counters', () => {
  const w = new ReplayWindow();
  for (let c = 0; c < 64; c++) w.check(c);
  assert.equal(w.check(2048 * 10 + 5), 'ok');
  for (let c = 2048 * 10 - 100; c < 2048 * 10 + 5; c++) assert.equal(w.check(c), 'ok', `counter ${c}`);
});
