import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteQueue } from './byte-queue.ts';
import { SLAB_BYTES, SlabPool } from './slab-pool.ts';

/** Deterministic bytes (xorshift), so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

test('reads back exactly what was written, across slab boundaries, against a plain array model', () => {
  const next = rng(7);
  const pool = new SlabPool(4);
  const q = new ByteQueue(pool);
  let model = Buffer.alloc(0);
  let counter = 0;
  for (let step = 0; step < 3000; step++) {
    const op = next() % 3;
    if (op === 0) {
      // Writes from 1 byte to a bit over two slabs.
      const n = 1 + (next() % (2 * SLAB_BYTES + 100));
      const chunk = Buffer.alloc(n);
      for (let i = 0; i < n; i++) chunk[i] = (counter + i * 31) & 0xff;
      counter++;
      q.push(chunk);
      model = Buffer.concat([model, chunk]);
    } else if (op === 1 && model.length > 0) {
      const off = next() % model.length;
      const len = Math.min(model.length - off, 1 + (next() % 3000));
      assert.deepEqual(q.peek(off, len), model.subarray(off, off + len), `peek ${off}+${len}`);
    } else if (model.length > 0) {
      const n = next() % (model.length + 1);
      q.trim(n);
      model = model.subarray(n);
    }
    assert.equal(q.length, model.length);
  }
  assert.throws(() => q.peek(0, q.length + 1), RangeError);
  assert.throws(() => q.trim(q.length + 1), RangeError);
});

test('keeps a copy: the writer may reuse its buffer at once (the queue holds no reference to it)', () => {
  const q = new ByteQueue(new SlabPool(1));
  const chunk = Buffer.alloc(3000, 0xaa);
  q.push(chunk);
  chunk.fill(0x55);
  assert.deepEqual(q.peek(0, 3000), Buffer.alloc(3000, 0xaa));
});

test('memory stays bounded by what is unacknowledged, not by bytes moved: slabs are recycled', () => {
  // 256 MiB through a queue that never holds more than 1 MiB (a full send buffer), in the proxy's
  // 64 KiB writes and ~1.4 kB acknowledgements. If acknowledged slabs were not given back (or
  // written chunks were kept), the slabs allocated would grow with the bytes moved.
  const pool = new SlabPool(128);
  const q = new ByteQueue(pool);
  const write = Buffer.alloc(64 * 1024 - 17, 1); // not slab-aligned, so writes straddle slabs
  const limit = 1024 * 1024;
  let moved = 0;
  while (moved < 256 * 1024 * 1024) {
    while (q.length < limit) q.push(write);
    while (q.length >= limit) {
      const n = Math.min(q.length, 1448);
      q.peek(0, n);
      q.trim(n);
      moved += n;
    }
  }
  const inUseAtMost = Math.ceil((limit + write.length) / SLAB_BYTES) + 1;
  assert.ok(pool.allocated <= inUseAtMost, `${pool.allocated} slabs allocated for ${inUseAtMost} in use`);
  // An emptied queue (an idle connection) holds no slab.
  q.trim(q.length);
  assert.equal(pool.free, pool.allocated);
});

test('the pool keeps at most its limit of free slabs (an idle process gives the rest back)', () => {
  const pool = new SlabPool(2);
  const slabs = [pool.take(), pool.take(), pool.take(), pool.take()];
  for (const s of slabs) pool.give(s);
  assert.equal(pool.free, 2);
  assert.equal(pool.allocated, 4);
  pool.take();
  pool.take();
  pool.take();
  assert.equal(pool.allocated, 5);
});
