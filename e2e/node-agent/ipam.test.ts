import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PodIpPool } from './ipam.ts';

test('pod IPs start at .2, are unique, and are reused after release', () => {
  const pool = new PodIpPool('10.244.7');
  assert.equal(pool.gateway, '10.244.7.1');
  assert.equal(pool.cidr, '10.244.7.0/24');
  const a = pool.allocate();
  const b = pool.allocate();
  assert.deepEqual([a, b], ['10.244.7.2', '10.244.7.3']);
  pool.release(a);
  assert.equal(pool.allocate(), '10.244.7.2');
});

test('the pool is exhausted after 253 pods, with a clear error', () => {
  const pool = new PodIpPool('10.244.8');
  for (let i = 0; i < 253; i++) pool.allocate();
  assert.throws(() => pool.allocate(), /no free pod IP left in 10\.244\.8\.0\/24/);
});

test('a malformed prefix is refused', () => {
  assert.throws(() => new PodIpPool('10.244'), /bad \/24 prefix/);
});
