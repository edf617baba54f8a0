// `sandbox start --help` is the image's compile-cache warm-up: it must load every part a start may
// load (the overlay, the enrolled datapath, gVisor), so none is stripped at a Pod's first start.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { registeredParts } from './parts.ts';
import { sandboxStart } from './start.ts';

test('sandbox start --help loads every datapath part (the compile-cache warm-up covers them)', async () => {
  assert.deepEqual(registeredParts(), [], 'nothing is loaded before');
  const write = process.stdout.write;
  let out = '';
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    assert.equal(await sandboxStart(['--help']), 0);
  } finally {
    process.stdout.write = write;
  }
  assert.match(out, /--wg-config/);
  const names = registeredParts().map((p) => p.name);
  assert.equal(names.length, 3, `parts loaded: ${names.join(', ')}`);
});
