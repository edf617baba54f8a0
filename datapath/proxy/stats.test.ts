import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EgressStats } from './stats.ts';

test('recent denials: distinct (destination, rule) with counts, most recent first, bounded', () => {
  const s = new EgressStats(2);
  s.allow();
  s.deny('a:1', 'default', 1000);
  s.deny('b:1', 'deny 10.0.0.0/8', 2000);
  s.deny('a:1', 'default', 3000);
  assert.equal(s.allowed, 1);
  assert.equal(s.denied, 3);
  assert.deepEqual(
    s.recentDenials().map((d) => [d.dst, d.count, d.last]),
    [
      ['a:1', 2, '1970-01-01T00:00:03.000Z'],
      ['b:1', 1, '1970-01-01T00:00:02.000Z'],
    ],
  );
  s.deny('c:1', 'default', 4000);
  assert.deepEqual(
    s.recentDenials().map((d) => d.dst),
    ['c:1', 'a:1'],
    'the least recently denied entry is dropped',
  );
});
