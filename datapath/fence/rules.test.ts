// The fence's rules as text: what is accepted, in which order, and what is rejected; flag errors.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFenceFlags } from './cli.ts';
import { FENCE_CHAIN, fenceRestoreInput, jumpRule, validateFenceSpec } from './rules.ts';

const spec = { datapathUid: 65532, proxyPort: 1080, healthPort: 15021 };
const rules = (family: 'ipv4' | 'ipv6') =>
  fenceRestoreInput(spec, family)
    .split('\n')
    .filter((l) => l.startsWith('-A '));

test('the chain is declared (created or flushed) and committed in the filter table', () => {
  const text = fenceRestoreInput(spec, 'ipv4');
  assert.match(text, /^\*filter\n:LATTICE-FENCE - \[0:0\]\n/);
  assert.match(text, /\nCOMMIT\n$/);
  assert.deepEqual(jumpRule(), ['OUTPUT', '-j', FENCE_CHAIN]);
});

test('accepts come before the rejects: loopback proxy and health, replies, the datapath uid', () => {
  for (const family of ['ipv4', 'ipv6'] as const) {
    const r = rules(family);
    const at = (re: RegExp) => r.findIndex((l) => re.test(l));
    const firstReject = at(/-j REJECT/);
    assert.ok(at(/-o lo -p tcp --dport 1080 -j ACCEPT$/) < firstReject);
    assert.ok(at(/-o lo -p tcp --dport 15021 -j ACCEPT$/) < firstReject);
    assert.ok(at(/--ctstate ESTABLISHED,RELATED -j ACCEPT$/) < firstReject);
    assert.ok(at(/--uid-owner 65532 -j ACCEPT$/) < firstReject);
    assert.ok(firstReject >= 0);
    // the last two rules reject everything else: TCP with a reset (fast failure), the rest by ICMP
    assert.match(r.at(-2)!, /-p tcp -j REJECT --reject-with tcp-reset$/);
    assert.match(r.at(-1)!, family === 'ipv4' ? /icmp-port-unreachable$/ : /icmp6-port-unreachable$/);
    // no other uid and no other loopback port is accepted
    assert.equal(r.filter((l) => /-j ACCEPT/.test(l) && /--uid-owner/.test(l)).length, 1);
    assert.equal(r.filter((l) => /-o lo/.test(l)).length, 2);
  }
});

test('IPv6 lets the kernel send neighbour discovery; IPv4 has no ICMP exception', () => {
  assert.equal(rules('ipv6').filter((l) => /--icmpv6-type/.test(l)).length, 3);
  assert.equal(rules('ipv4').filter((l) => /icmp/.test(l) && /ACCEPT/.test(l)).length, 0);
});

test('flags: the operator’s call parses; root, bad ports and missing flags are refused naming the flag', () => {
  assert.deepEqual(parseFenceFlags(['--datapath-uid=65532', '--proxy-port=1080']), {
    ...spec,
    dryRun: false,
  });
  assert.deepEqual(
    parseFenceFlags(['--datapath-uid', '7', '--proxy-port', '9', '--health-port=10', '--dry-run']),
    {
      datapathUid: 7,
      proxyPort: 9,
      healthPort: 10,
      dryRun: true,
    },
  );
  assert.throws(() => parseFenceFlags(['--datapath-uid=0', '--proxy-port=1080']), /--datapath-uid/);
  assert.throws(() => parseFenceFlags(['--datapath-uid=1', '--proxy-port=70000']), /--proxy-port/);
  assert.throws(() => parseFenceFlags(['--proxy-port=1080']), /--datapath-uid: is required/);
  assert.throws(() => parseFenceFlags(['--datapath-uid=1', '--proxy-port=1', '--x']), /unknown flag/);
  assert.equal(
    validateFenceSpec({ datapathUid: 1, proxyPort: 1, healthPort: 0 })?.startsWith('--health-port'),
    true,
  );
});
