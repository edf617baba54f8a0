import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AuditFields } from '../audit/record.ts';
import { AuditWriter } from '../audit/writer.ts';
import { AuditFollower } from './audit-follower.ts';

const root = mkdtempSync(join(tmpdir(), 'lattice-follow-'));
after(() => rmSync(root, { recursive: true, force: true }));

const fields = (i: number): AuditFields => ({
  event: 'decision',
  conn: `c${i}`,
  session: null,
  dir: 'egress',
  proto: 'socks5',
  src: '127.0.0.1:5000',
  host: 'example.test',
  port: 443,
  resolved: ['192.0.2.1'],
  dialed: '192.0.2.1:443',
  path: 'direct',
  decision: 'allow',
  rule: 'allow 0.0.0.0/0',
  reason: 'matched',
  reply: 0,
  bytesUp: null,
  bytesDown: null,
  durationMs: null,
});

test('reading while the writer rotates returns every record once, in order', () => {
  const path = join(mkdtempSync(join(root, 'a-')), 'audit.jsonl');
  // ~500-byte records, 2 KiB files: a rotation every few records, 5 files kept.
  const w = new AuditWriter({ path, sandbox: 's', maxBytes: 2048, maxFiles: 5 });
  const f = new AuditFollower(path, 5);
  const got: number[] = [];
  let after = 0;
  for (let i = 1; i <= 60; i++) {
    assert.ok(w.append(fields(i)));
    if (i % 3 === 0) {
      // read in small batches, sometimes less than what is there
      for (const l of f.next(after, 2)) {
        got.push(l.seq);
        after = l.seq;
      }
    }
  }
  for (let batch = f.next(after, 7); batch.length > 0; batch = f.next(after, 7)) {
    for (const l of batch) {
      got.push(l.seq);
      after = l.seq;
    }
  }
  w.close();
  assert.ok(w.status.rotations >= 10, `rotations: ${w.status.rotations}`);
  // Reading lagged behind by up to ~40 records while only ~20 fit in the kept files: the oldest were
  // rotated away before being read. What was read is in order, without duplicates, and ends at 60.
  assert.deepEqual(
    got,
    [...got].sort((x, y) => x - y),
  );
  assert.equal(new Set(got).size, got.length);
  assert.equal(got.at(-1), 60);
  const kept = f.scanAll().map((l) => l.seq);
  for (const s of kept) assert.ok(got.includes(s), `seq ${s} on disk was never read`);
});

test('a reader that keeps up misses nothing across rotations', () => {
  const path = join(mkdtempSync(join(root, 'b-')), 'audit.jsonl');
  const w = new AuditWriter({ path, sandbox: 's', maxBytes: 2048, maxFiles: 3 });
  const f = new AuditFollower(path, 3);
  const got: number[] = [];
  for (let i = 1; i <= 100; i++) {
    w.append(fields(i));
    for (const l of f.next(got.at(-1) ?? 0, 100)) got.push(l.seq);
  }
  w.close();
  assert.deepEqual(
    got,
    Array.from({ length: 100 }, (_, i) => i + 1),
  );
});

test('a partly written line is not read until it is complete; a lost position re-reads by sequence', () => {
  const path = join(mkdtempSync(join(root, 'c-')), 'audit.jsonl');
  const w = new AuditWriter({ path, sandbox: 's', maxBytes: 1 << 20, maxFiles: 2 });
  const f = new AuditFollower(path, 2);
  w.append(fields(1));
  w.append(fields(2));
  w.close();
  appendFileSync(path, '{"v":1,"time":"2026-01-01T00:00:00.000Z","seq":3,'); // a writer mid-line
  assert.deepEqual(
    f.next(0, 10).map((l) => l.seq),
    [1, 2],
  );
  assert.deepEqual(f.next(2, 10), []);
  f.reset();
  assert.deepEqual(
    f.next(1, 10).map((l) => l.seq),
    [2],
    'after a reset, reading skips by sequence',
  );
});
