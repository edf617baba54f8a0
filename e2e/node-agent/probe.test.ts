import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProbeState, timing } from './probe.ts';

test('defaults are the Kubernetes ones', () => {
  assert.deepEqual(timing({}), {
    initialDelayMs: 0,
    periodMs: 10_000,
    timeoutMs: 1_000,
    successThreshold: 1,
    failureThreshold: 3,
  });
});

test('failureThreshold failures in a row are needed to fail; a success resets the count', () => {
  const p = new ProbeState(timing({ failureThreshold: 3 }), 'success');
  p.record(false);
  p.record(false);
  p.record(true);
  p.record(false);
  p.record(false);
  assert.equal(p.result, 'success');
  assert.equal(p.record(false), true);
  assert.equal(p.result, 'failure');
});

test('successThreshold successes in a row are needed to succeed', () => {
  const p = new ProbeState(timing({ successThreshold: 2 }));
  assert.equal(p.record(true), false);
  assert.equal(p.result, 'unknown');
  assert.equal(p.record(true), true);
  assert.equal(p.result, 'success');
});
