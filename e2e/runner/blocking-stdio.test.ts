// The stdio fix the test runner is started with, on its own: a process that writes more than its
// stdout socket holds and then calls process.exit() (what --test-force-exit does in every test
// file's process) loses the rest without it, and waits for the reader with it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const PRELOAD = pathToFileURL(join(import.meta.dirname, 'blocking-stdio.ts')).href;
const SIZE = 1 << 20; // far more than a socketpair buffers
const WRITE_AND_EXIT = `process.stdout.write(Buffer.alloc(${SIZE}, 120)); process.exit(0);`;

/** Starts `node ...args`, reads nothing until it exits or `waitMs` passes, then reads it all. */
async function bytesReceived(args: string[], waitMs: number) {
  // stdio 'pipe' is the socketpair node:test also gives each test file's process
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000); // bound: never hang the run
  let wait: NodeJS.Timeout | undefined;
  try {
    const exitedBeforeReading = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => {
        wait = setTimeout(() => r(false), waitMs);
      }),
    ]);
    clearTimeout(wait);
    let bytes = 0;
    const ended = once(child.stdout, 'end');
    child.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    const [[code]] = await Promise.all([exited, ended]);
    return { bytes, code, exitedBeforeReading };
  } finally {
    clearTimeout(wait);
    clearTimeout(timer);
  }
}

test('without blocking stdio, process.exit() drops what stdout still queues; with it, nothing is lost', {
  timeout: 120_000,
}, async () => {
  const plain = await bytesReceived(['-e', WRITE_AND_EXIT], 60_000);
  assert.equal(plain.code, 0);
  assert.ok(plain.bytes < SIZE, `received ${plain.bytes} of ${SIZE}: the loss this guards against`);

  const blocking = await bytesReceived([`--import=${PRELOAD}`, '-e', WRITE_AND_EXIT], 1000);
  assert.equal(blocking.exitedBeforeReading, false, 'the writer waits for its reader');
  assert.equal(blocking.code, 0);
  assert.equal(blocking.bytes, SIZE);
});
