import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MissingBinaryError } from './errors.ts';
import { findTools, parseVersions } from './tools.ts';

test('versions are read from build-tools.sh, the one place they are written', () => {
  const v = parseVersions(readFileSync(join(import.meta.dirname, 'build-tools.sh'), 'utf8'));
  assert.match(v.K8S, /^v1\.\d+\.\d+$/);
  assert.match(v.ETCD, /^v3\.\d+\.\d+$/);
  assert.match(v.NATS, /^v2\.\d+\.\d+$/);
});

test('a missing binary is named with the command that builds it', () => {
  const saved = process.env.LATTICE_CACHE;
  process.env.LATTICE_CACHE = '/nonexistent-lattice-cache';
  try {
    assert.throws(
      () => findTools(),
      (err: unknown) =>
        err instanceof MissingBinaryError &&
        err.message.includes('/nonexistent-lattice-cache/bin/') &&
        err.message.includes('build-tools.sh'),
    );
  } finally {
    if (saved === undefined) delete process.env.LATTICE_CACHE;
    else process.env.LATTICE_CACHE = saved;
  }
});
