// ConfigWatcher on a real temporary directory laid out as the kubelet lays out a projected volume:
// a swap of ..data is seen through the unchanged config.json link, a burst is one change, an
// unchanged text is not a change, a removed file is reported and not a change, SIGHUP forces.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { ConfigWatcher } from './watch.ts';

const dirs: string[] = [];
const watchers: ConfigWatcher[] = [];
afterEach(() => {
  for (const w of watchers.splice(0)) w.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A kubelet-style projected directory; `swap(text)` publishes a new version atomically. */
function projected(first: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-watch-'));
  dirs.push(dir);
  let n = 0;
  const swap = (text: string) => {
    const v = `..2026_11_28_${n++}`;
    mkdirSync(join(dir, v));
    writeFileSync(join(dir, v, 'config.json'), text);
    symlinkSync(v, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  swap(first);
  symlinkSync('..data/config.json', join(dir, 'config.json'));
  return { dir, path: join(dir, 'config.json'), swap };
}

function watched(path: string, initialText: string) {
  const changes: { text: string; forced: boolean }[] = [];
  const errors: string[] = [];
  const w = new ConfigWatcher({
    path,
    initialText,
    onChange: (text, forced) => changes.push({ text, forced }),
    onReadError: (e) => errors.push(e),
    debounceMs: 30,
    pollMs: 60_000, // inotify alone in these tests
  }).start();
  watchers.push(w);
  return { changes, errors, w };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition not reached within 2 s');
};
const settle = () => new Promise((r) => setTimeout(r, 150));

test('a symlink swap of ..data is one change carrying the new text', async () => {
  const p = projected('A');
  const { changes } = watched(p.path, 'A');
  await settle();
  assert.deepEqual(changes, [], 'the initial text is not a change');
  p.swap('B');
  await until(() => changes.length === 1);
  await settle();
  assert.deepEqual(changes, [{ text: 'B', forced: false }]);
});

test('a burst of writes is debounced to the last text; the same text again is not a change', async () => {
  const p = projected('A');
  const { changes } = watched(p.path, 'A');
  p.swap('B');
  p.swap('C');
  p.swap('D');
  await until(() => changes.length >= 1);
  await settle();
  assert.deepEqual(
    changes.map((c) => c.text),
    ['D'],
  );
  p.swap('D');
  await settle();
  assert.equal(changes.length, 1);
});

test('a plain file written in place is seen too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-watch-'));
  dirs.push(dir);
  const path = join(dir, 'cfg.yaml');
  writeFileSync(path, 'a');
  const { changes } = watched(path, 'a');
  writeFileSync(path, 'b');
  await until(() => changes.length === 1);
  assert.equal(changes[0].text, 'b');
});

test('a removed file is reported once and is not a change; forceCheck hands over an unchanged text', async () => {
  const p = projected('A');
  const { changes, errors, w } = watched(p.path, 'A');
  unlinkSync(p.path);
  await until(() => errors.length === 1);
  assert.equal(errors[0], 'ENOENT');
  w.forceCheck();
  assert.deepEqual(errors, ['ENOENT'], 'the same error is not reported again');
  assert.deepEqual(changes, []);
  symlinkSync('..data/config.json', p.path);
  w.forceCheck();
  assert.deepEqual(changes, [{ text: 'A', forced: true }]);
});

test('a change made between the first read and start() is picked up', async () => {
  const p = projected('B');
  const { changes } = watched(p.path, 'A');
  await until(() => changes.length === 1);
  assert.equal(changes[0].text, 'B');
});
