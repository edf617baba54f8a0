import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerArgv, DEFAULT_IMAGE_RULES, repositoryOf } from './images.ts';

test('the repository of an image reference drops tag and digest, not a registry port', () => {
  assert.equal(repositoryOf('ghcr.io/lattice-sandbox/datapath:0.1.0'), 'ghcr.io/lattice-sandbox/datapath');
  assert.equal(repositoryOf('localhost:5000/lattice/datapath@sha256:abc'), 'localhost:5000/lattice/datapath');
  assert.equal(repositoryOf('node'), 'node');
});

test('the datapath image runs the datapath CLI with the container args', () => {
  const r = containerArgv(
    { image: 'ghcr.io/lattice-sandbox/datapath:0.1.0', args: ['sandbox', 'start'] },
    DEFAULT_IMAGE_RULES,
    '/n/node',
  );
  assert.ok(r.ok);
  assert.equal(r.argv[0], '/n/node');
  assert.match(r.argv[1], /datapath\/cli\/main\.ts$/);
  assert.deepEqual(r.argv.slice(2), ['sandbox', 'start']);
});

test('a node image runs its command, with "node" meaning our Node 24', () => {
  const r = containerArgv(
    { image: 'node:24', command: ['node', '-e', '1'], args: ['x'] },
    DEFAULT_IMAGE_RULES,
    '/n/node',
  );
  assert.deepEqual(r, { ok: true, argv: ['/n/node', '-e', '1', 'x'] });
});

test('an unmapped image is refused with the rules it could have matched', () => {
  const r = containerArgv({ image: 'nginx:1.27' }, DEFAULT_IMAGE_RULES, '/n/node');
  assert.equal(r.ok, false);
  assert.ok(
    !r.ok &&
      r.reason === 'ImageNotMapped' &&
      r.message.includes('nginx:1.27') &&
      r.message.includes('datapath'),
  );
});
