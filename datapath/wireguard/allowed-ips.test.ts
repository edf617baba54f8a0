import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddress } from '../netstack/ip/address.ts';
import { AllowedIps, CidrError, formatCidr, parseCidr } from './allowed-ips.ts';

test('longest prefix wins, per family, with a default route underneath', () => {
  const t = new AllowedIps<string>();
  t.insert(parseCidr('0.0.0.0/0'), 'default');
  t.insert(parseCidr('10.0.0.0/8'), 'ten');
  t.insert(parseCidr('10.1.0.0/16'), 'ten-one');
  t.insert(parseCidr('10.1.2.3'), 'host');
  t.insert(parseCidr('fd00::/64'), 'v6');
  assert.equal(t.lookup(parseAddress('10.1.2.3')), 'host');
  assert.equal(t.lookup(parseAddress('10.1.2.4')), 'ten-one');
  assert.equal(t.lookup(parseAddress('10.200.0.1')), 'ten');
  assert.equal(t.lookup(parseAddress('192.168.0.1')), 'default');
  assert.equal(t.lookup(parseAddress('fd00::1')), 'v6');
  assert.equal(t.lookup(parseAddress('fd01::1')), undefined);
  t.removeValue('ten-one');
  assert.equal(t.lookup(parseAddress('10.1.2.4')), 'ten');
  assert.deepEqual(t.entriesOf('v6').map(formatCidr), ['fd00::/64']);
});

test('CIDRs are normalised (host bits cleared) and bad ones rejected with the text', () => {
  assert.equal(formatCidr(parseCidr('10.1.2.3/8')), '10.0.0.0/8');
  assert.equal(formatCidr(parseCidr(' fd00::1/128 ')), 'fd00::1/128');
  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'nope', '10.0.0.0/', '10.0.0.0/-1']) {
    assert.throws(() => parseCidr(bad), CidrError);
  }
});
