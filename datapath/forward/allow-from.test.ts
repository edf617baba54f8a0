import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddressLiteral } from '../policy/address.ts';
import { RuleError } from '../policy/rule.ts';
import { parseAllowFrom, peerAllowed } from './allow-from.ts';

const peer = (addr: string | null, name: string | null = null) => ({
  address: addr === null ? null : parseAddressLiteral(addr),
  port: 1234,
  name,
});

test('allowFrom admits peers by name or CIDR, and nobody else', () => {
  const a = parseAllowFrom(['agent-002', '10.42.0.0/16', 'fd00::/8']);
  assert.equal(peerAllowed(a, peer('10.42.3.4')), true);
  assert.equal(peerAllowed(a, peer('::ffff:10.42.3.4')), true, 'IPv4-mapped peer addresses match IPv4 CIDRs');
  assert.equal(peerAllowed(a, peer('10.43.0.1')), false);
  assert.equal(peerAllowed(a, peer('fd12::1')), true);
  assert.equal(peerAllowed(a, peer('100.64.0.9', 'agent-002')), true);
  assert.equal(peerAllowed(a, peer('100.64.0.9', 'agent-003')), false);
  assert.equal(peerAllowed(a, peer(null)), false);
});

test('an empty allowFrom admits every peer; bad entries are refused', () => {
  assert.equal(peerAllowed(parseAllowFrom([]), peer('192.0.2.1')), true);
  for (const bad of ['10.0.0.0/33', '10.0.0.1/8', 'Agent 2', '10.0.0.0/8:80', '*.x']) {
    assert.throws(() => parseAllowFrom([bad]), RuleError, bad);
  }
});
