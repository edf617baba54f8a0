import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type AuditFields, GENESIS_HASH, sealRecord, sha256Hex, verifyLines } from './record.ts';
import { AuditWriter, auditFiles, FLUSH_AFTER_MS } from './writer.ts';

const fields = (i: number): AuditFields => ({
  event: 'decision',
  conn: `c-${i}`,
  session: null,
  dir: 'egress',
  proto: 'socks5',
  src: '127.0.0.1:5000',
  host: 'example.com',
  port: 443,
  resolved: ['192.0.2.1'],
  dialed: null,
  path: null,
  decision: 'allow',
  rule: 'allow example.com:443',
  reason: 'rule',
  reply: null,
  bytesUp: null,
  bytesDown: null,
  durationMs: null,
});

test('a sealed line hashes its own body, so any verifier can recompute it from the bytes', () => {
  const { line, hash } = sealRecord(
    { time: '2026-01-01T00:00:00.000Z', seq: 1, sandbox: 's' },
    fields(1),
    GENESIS_HASH,
  );
  assert.ok(line.endsWith(`,"hash":"${hash}"}`));
  assert.equal(sha256Hex(`${line.slice(0, -75)}}`), hash);
  const rec = JSON.parse(line);
  assert.deepEqual(Object.keys(rec).slice(0, 5), ['v', 'time', 'seq', 'sandbox', 'event']);
  assert.equal(rec.prev, GENESIS_HASH);
});

test('the writer chains, rotates at the size limit keeping N files, resumes after restart, files are 0600', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-audit-'));
  try {
    const path = join(dir, 'a.jsonl');
    let w = new AuditWriter({ path, sandbox: 's', maxBytes: 2000, maxFiles: 2 });
    for (let i = 0; i < 10; i++) assert.equal(w.append(fields(i)), true);
    w.close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    // restart: the chain continues from the last record on disk
    w = new AuditWriter({ path, sandbox: 's', maxBytes: 2000, maxFiles: 2 });
    for (let i = 10; i < 14; i++) w.append(fields(i));
    w.close();
    assert.equal(w.status.seq, 14);
    assert.ok(w.status.rotations > 0);
    const files = auditFiles(path, 2);
    assert.deepEqual(files, [`${path}.2`, `${path}.1`, path]);
    assert.equal(readdirSync(dir).length, 3, 'older files were deleted');
    // the kept files verify as one chain, oldest first
    let anchor = null;
    for (const f of files) {
      const r = verifyLines(readFileSync(f, 'utf8').split('\n'), anchor);
      assert.ok(r.ok, JSON.stringify(r));
      anchor = r.last;
    }
    assert.equal(anchor?.seq, 14);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a write failure is reported, never thrown', () => {
  const w = new AuditWriter({ path: '/dev/full', sandbox: 's', maxBytes: 1000, maxFiles: 1 });
  assert.equal(w.append(fields(1)), false);
  assert.equal(w.status.healthy, false);
  assert.match(w.status.lastError ?? '', /ENOSPC/);
  assert.equal(w.status.writeErrors, 1);
  const missing = new AuditWriter({
    path: '/nonexistent-dir/x.jsonl',
    sandbox: 's',
    maxBytes: 1000,
    maxFiles: 1,
  });
  assert.equal(missing.append(fields(1)), false);
  assert.match(missing.status.lastError ?? '', /ENOENT/);
});

test('records given to appendSoon are written in order with the next append, or within FLUSH_AFTER_MS', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-audit-'));
  try {
    const path = join(dir, 'a.jsonl');
    const writes: number[] = [];
    const w = new AuditWriter({
      path,
      sandbox: 's',
      maxBytes: 1 << 20,
      maxFiles: 1,
      onWrite: (n, ok) => writes.push(ok ? n : -n),
    });
    const lines = () => readFileSync(path, 'utf8').split('\n').filter(Boolean);
    w.appendSoon({ ...fields(1), event: 'close' });
    w.appendSoon({ ...fields(2), event: 'close' });
    assert.equal(lines().length, 0, 'not written yet');
    assert.equal(w.append(fields(3)), true);
    assert.deepEqual(
      lines().map((l) => JSON.parse(l).conn),
      ['c-1', 'c-2', 'c-3'],
      'the waiting records first, in the order they were sealed',
    );
    assert.deepEqual(writes, [3], 'one write for the three records');
    w.appendSoon({ ...fields(4), event: 'close' });
    await new Promise((r) => setTimeout(r, FLUSH_AFTER_MS * 5));
    assert.equal(lines().length, 4, 'written by the timer');
    w.appendSoon({ ...fields(5), event: 'close' });
    w.close();
    assert.equal(lines().length, 5, 'close() writes what is waiting');
    assert.equal(w.status.records, 5);
    assert.deepEqual(verifyLines(lines(), null), {
      ok: true,
      records: 5,
      first: 1,
      last: { seq: 5, hash: lines()[4].slice(-66, -2) },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('knownWritable: false until a write succeeded, false again after a failed write until one succeeds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-audit-'));
  const fds: number[] = [];
  try {
    // A FIFO: writes succeed while it has a reader and fail (EPIPE) once the reader is gone.
    const path = join(dir, 'a.jsonl');
    assert.equal(spawnSync('mkfifo', [path]).status, 0);
    let reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    fds.push(reader, openSync(path, constants.O_WRONLY)); // a writer, so the chain lookup's open does not block
    const w = new AuditWriter({ path, sandbox: 's', maxBytes: 1 << 20, maxFiles: 1 });
    assert.equal(w.knownWritable, false, 'not before the first write');
    w.appendSoon({ ...fields(1), event: 'close' });
    assert.equal(w.knownWritable, false, 'a queued record proves nothing');
    assert.equal(w.append(fields(2)), true);
    assert.equal(w.knownWritable, true);
    closeSync(reader);
    assert.equal(w.append(fields(3)), false, 'the write failed');
    assert.equal(w.knownWritable, false);
    assert.match(w.status.lastError ?? '', /EPIPE/);
    reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    fds[0] = reader;
    assert.equal(w.append(fields(4)), true, 'recovers once the file can be written again');
    assert.equal(w.knownWritable, true);
    const buf = Buffer.alloc(4096);
    const got = buf.toString('utf8', 0, readSync(reader, buf)).split('\n').filter(Boolean);
    assert.deepEqual(
      got.map((l) => [JSON.parse(l).conn, JSON.parse(l).seq]),
      [
        ['c-1', 1],
        ['c-2', 2],
        ['c-4', 3],
      ],
      'the failed record was dropped and the chain went on from the last written one',
    );
    assert.equal(verifyLines(got, null).ok, true);
    w.close();
    assert.equal(w.knownWritable, false, 'closed');
  } finally {
    for (const fd of fds) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('records whose write failed are dropped and the chain goes on from the file, so it still verifies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-audit-'));
  try {
    // the audit path is a symlink: first to a device where every write fails, then to a real file
    const path = join(dir, 'a.jsonl');
    symlinkSync('/dev/full', path);
    const w = new AuditWriter({ path, sandbox: 's', maxBytes: 1 << 20, maxFiles: 1 });
    w.appendSoon({ ...fields(1), event: 'close' });
    assert.equal(w.append(fields(2)), false);
    assert.equal(w.status.healthy, false);
    rmSync(path);
    symlinkSync(join(dir, 'real.jsonl'), path);
    assert.equal(w.append(fields(3)), true, 'recovers once the file can be written again');
    assert.equal(w.status.healthy, true);
    const got = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    assert.equal(got.length, 1);
    assert.equal(JSON.parse(got[0]).conn, 'c-3');
    assert.equal(
      verifyLines(got, { seq: 0, hash: GENESIS_HASH }).ok,
      true,
      'chained from the last written record',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('verification catches edits, removals and reordering', () => {
  const lines: string[] = [];
  let prev = GENESIS_HASH;
  for (let i = 1; i <= 4; i++) {
    const s = sealRecord({ time: '2026-01-01T00:00:00.000Z', seq: i, sandbox: 's' }, fields(i), prev);
    lines.push(s.line);
    prev = s.hash;
  }
  assert.deepEqual(verifyLines(lines, null), {
    ok: true,
    records: 4,
    first: 1,
    last: { seq: 4, hash: prev },
  });
  const edited = [...lines];
  edited[1] = edited[1].replace('"allow"', '"deny"');
  assert.deepEqual(verifyLines(edited, null), {
    ok: false,
    line: 2,
    why: 'hash does not match the line (edited?)',
  });
  assert.equal((verifyLines([lines[0], lines[2]], null) as { line: number }).line, 2);
  assert.equal((verifyLines([lines[1], lines[0]], null) as { line: number }).line, 2);
  assert.equal(verifyLines(['{"not":"sealed"}'], null).ok, false);
});
