import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide } from './leader.ts';

test('an empty or released lease is acquired', () => {
  assert.equal(decide(undefined, 'me', 0, 0, 15_000), 'acquire');
  assert.equal(decide({ holderIdentity: '' }, 'me', 0, 0, 15_000), 'acquire');
});

test('the holder renews its own lease', () => {
  assert.equal(decide({ holderIdentity: 'me' }, 'me', 0, 1_000_000, 15_000), 'renew');
});

test('another holder is respected until its record has not changed for a whole lease by our clock', () => {
  const spec = { holderIdentity: 'other' };
  assert.equal(decide(spec, 'me', 1000, 1000 + 14_999, 15_000), 'wait');
  assert.equal(decide(spec, 'me', 1000, 1000 + 15_000, 15_000), 'acquire');
});
