import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { alive, readPidFile, selfId, writePidFile } from './proc.ts';

test('a pid file identifies a process by pid and start time', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proc-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const me = selfId();
  writePidFile(join(dir, 'me.pid'), me);
  assert.deepEqual(readPidFile(join(dir, 'me.pid')), me);
  assert.equal(alive(me), true);
  // the same pid with another start time is someone else (a reused pid)
  assert.equal(alive({ pid: me.pid, startTime: '1' }), false);
});

test('an exited process is not alive', () => {
  const r = spawnSync('true');
  assert.equal(alive({ pid: r.pid!, startTime: '0' }), false);
  assert.equal(readPidFile('/nonexistent/x.pid'), undefined);
});
