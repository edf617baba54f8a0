import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  candidates,
  claimName,
  contains,
  hostAt,
  intToIp,
  ipFromClaimName,
  ipToInt,
  parsePool,
  usableCount,
} from './ip-pool.ts';

test('ip <-> int round trips and rejects junk', () => {
  assert.equal(ipToInt('10.42.0.1'), 0x0a2a0001);
  assert.equal(intToIp(0xffffffff), '255.255.255.255');
  assert.equal(intToIp(ipToInt('192.168.1.200')!), '192.168.1.200');
  for (const bad of ['10.42.0', '10.42.0.256', '10.042.0.1', 'a.b.c.d', '1.2.3.4.5', ''])
    assert.equal(ipToInt(bad), undefined, bad);
});

test('the default pool has 65534 usable addresses, never network or broadcast', () => {
  const p = parsePool('10.42.0.0/16');
  assert.equal(usableCount(p), 65534);
  assert.equal(hostAt(p, 0), '10.42.0.1');
  assert.equal(hostAt(p, 65533), '10.42.255.254');
  assert.equal(hostAt(p, 65534), '10.42.0.1', 'wraps');
  assert.ok(contains(p, '10.42.7.9'));
  assert.ok(!contains(p, '10.42.0.0'));
  assert.ok(!contains(p, '10.42.255.255'));
  assert.ok(!contains(p, '10.43.0.1'));
});

test('pools with host bits or silly prefixes are refused with a hint', () => {
  assert.throws(() => parsePool('10.42.0.1/16'), /host bits set \(did you mean 10\.42\.0\.0\/16/);
  assert.throws(() => parsePool('10.0.0.0/31'), /between \/8 and \/30/);
  assert.throws(() => parsePool('fd00::/64'), /IPv4 CIDR/);
});

test('claim names are DNS names and map back to the address', () => {
  assert.equal(claimName('10.42.3.4'), 'lattice-ip-10-42-3-4');
  assert.equal(ipFromClaimName('lattice-ip-10-42-3-4'), '10.42.3.4');
  assert.equal(ipFromClaimName('lattice-ip-10-42-3-400'), undefined);
  assert.equal(ipFromClaimName('something-else'), undefined);
});

test('candidates visit every free address exactly once, skipping taken ones', () => {
  const p = parsePool('10.9.0.0/29'); // 6 usable
  const taken = new Set(['10.9.0.2', '10.9.0.5']);
  const seen = [...candidates(p, 'uid-a', taken)];
  assert.equal(seen.length, 4);
  assert.equal(new Set(seen).size, 4);
  for (const ip of seen) assert.ok(contains(p, ip) && !taken.has(ip));
  assert.deepEqual(
    [
      ...candidates(
        p,
        'uid-a',
        new Set(['10.9.0.1', '10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']),
      ),
    ],
    [],
  );
});

test('different sandboxes usually start at different addresses', () => {
  const p = parsePool('10.42.0.0/16');
  const firsts = new Set(
    Array.from({ length: 200 }, (_, i) => candidates(p, `uid-${i}`, new Set()).next().value),
  );
  assert.ok(firsts.size > 190, `only ${firsts.size} distinct first choices`);
});
