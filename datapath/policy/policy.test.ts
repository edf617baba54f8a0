import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { seededRandom } from '../../e2e/testing/seeded-random.ts';
import {
  formatAddress,
  type IPAddress,
  normalise,
  parseAddressLiteral,
  parseIPv4Loose,
  parseIPv6,
} from './address.ts';
import { classifyDestination } from './destination.ts';
import { Policy, type PolicyOptions } from './engine.ts';
import { parseRule, type Rule, RuleError, ruleFromSpec } from './rule.ts';

const ip = (s: string): IPAddress => {
  const a = parseAddressLiteral(s);
  assert.ok(a, `test address ${s}`);
  return a;
};
const NOW = Date.parse('2026-06-01T00:00:00Z');

function policy(allow: string[], deny: string[] = [], options: Partial<PolicyOptions> = {}): Policy {
  const rules: Rule[] = [
    ...allow.map((r) => parseRule(r, 'allow')),
    ...deny.map((r) => parseRule(r, 'deny')),
  ];
  return new Policy(rules, { defaultAction: 'deny', ...options });
}
const decideIp = (p: Policy, addr: string, port: number) => p.decide(null, [ip(addr)], port, NOW);

describe('address parsing', () => {
  test('inet_aton spellings mean the address they spell', () => {
    for (const s of [
      '127.0.0.1',
      '127.1',
      '127.0.1',
      '0x7f.0.0.1',
      '0x7f000001',
      '0177.0.0.1',
      '2130706433',
      '017700000001',
      '0x7f.1',
    ]) {
      assert.equal(formatAddress(parseIPv4Loose(s)!), '127.0.0.1', s);
    }
  });
  test('dotted quads: the canonical form and the forms inet_aton reads differently agree with it', () => {
    // every value of each byte position, the rest random: the scan must equal the arithmetic
    const random = seededRandom(7);
    const rnd = () => Math.floor(random() * 256);
    for (let pos = 0; pos < 4; pos++) {
      for (let b = 0; b < 256; b++) {
        const parts = [rnd(), rnd(), rnd(), rnd()];
        parts[pos] = b;
        const s = parts.join('.');
        assert.equal(formatAddress(parseIPv4Loose(s)!), s, s);
      }
    }
    // a leading zero is octal wherever it is; a part above 255 or an extra dot is not a quad
    for (const [s, want] of [
      ['010.0.0.1', '8.0.0.1'],
      ['1.2.3.010', '1.2.3.8'],
      ['1.2.3.04', '1.2.3.4'],
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
      ['1.2.3.0255', '1.2.3.173'],
    ]) {
      assert.equal(formatAddress(parseIPv4Loose(s)!), want, s);
    }
    for (const s of ['1.2.3.256', '1..2.3', '1.2.3.4.', '.1.2.3', '1.2.3.4 ', '1.2.3.1000', '1.2.3.-1']) {
      assert.equal(parseIPv4Loose(s), null, s);
    }
  });
  test('out-of-range and junk IPv4 spellings are not addresses', () => {
    for (const s of [
      '256.0.0.1',
      '1.2.3.4.5',
      '4294967296',
      '1.2.3.',
      '',
      'a.b.c.d',
      '08.0.0.1',
      '1.16777216',
    ]) {
      assert.equal(parseIPv4Loose(s), null, s);
    }
  });
  test('IPv6 text forms', () => {
    assert.equal(formatAddress(parseIPv6('::1')!), '::1');
    assert.equal(formatAddress(parseIPv6('2001:DB8:0:0:0:0:0:1')!), '2001:db8::1');
    assert.equal(formatAddress(parseIPv6('::ffff:127.0.0.1')!), '::ffff:7f00:1');
    assert.equal(parseIPv6('1::2::3'), null);
    assert.equal(parseIPv6('fe80::1%eth0'), null);
    assert.equal(parseIPv6('1:2:3:4:5:6:7:8:9'), null);
    assert.equal(parseIPv6('::ffff:127.1'), null);
  });
  test('IPv4-embedding IPv6 forms are taken apart', () => {
    assert.equal(formatAddress(normalise(ip('::ffff:127.0.0.1')).address), '127.0.0.1');
    assert.equal(formatAddress(normalise(ip('::ffff:0:10.1.2.3')).address), '10.1.2.3');
    assert.equal(formatAddress(normalise(ip('::127.0.0.1')).address), '127.0.0.1');
    assert.equal(formatAddress(normalise(ip('::1')).address), '::1');
    assert.equal(formatAddress(normalise(ip('64:ff9b::7f00:1')).embedded!), '127.0.0.1');
    assert.equal(formatAddress(normalise(ip('2002:7f00:1::5')).embedded!), '127.0.0.1');
    assert.equal(formatAddress(normalise(ip('2001:0:4136:e378:8000:63bf:80ff:fffe')).embedded!), '127.0.0.1');
    assert.equal(normalise(ip('64:ff9b:1::7f00:1')).refused, 'nat64-local-use');
  });
  test('destinations are classified before resolution', () => {
    assert.deepEqual(classifyDestination('Example.COM.'), { kind: 'name', name: 'example.com' });
    assert.equal(classifyDestination('0x7f.1').kind, 'address');
    assert.equal(classifyDestination('[::1]').kind, 'address');
    assert.equal(classifyDestination('1.2.3.4.5').kind, 'invalid');
    assert.equal(classifyDestination('a'.repeat(64)).kind, 'invalid');
    assert.equal(classifyDestination('under_score.example').kind, 'name');
    assert.equal(classifyDestination('bad..name').kind, 'invalid');
    assert.equal(classifyDestination('exa mple.com').kind, 'invalid');
  });
});

describe('rule syntax', () => {
  test('seed-compatible forms', () => {
    assert.equal(parseRule('10.0.0.0/8', 'allow').text, 'allow 10.0.0.0/8');
    assert.equal(parseRule('0.0.0.0/0:443', 'allow').text, 'allow 0.0.0.0/0:443');
    assert.equal(parseRule('[2001:db8::/32]:443', 'allow').text, 'allow [2001:db8::/32]:443');
    assert.equal(parseRule('2001:db8::/32', 'deny').text, 'deny 2001:db8::/32');
    assert.equal(parseRule('*.pypi.org:443', 'allow').text, 'allow *.pypi.org:443');
    assert.equal(parseRule('Example.com:8000-9000', 'allow').text, 'allow example.com:8000-9000');
    assert.equal(parseRule('1.2.3.4', 'allow').text, 'allow 1.2.3.4/32');
    assert.equal(parseRule('[::ffff:10.0.0.0/104]', 'allow').text, 'allow 10.0.0.0/8');
  });
  test('bad rules are refused with the value named', () => {
    for (const bad of [
      '10.0.0.1/8',
      '10.0.0.0/33',
      '300.1.1.1',
      '127.1/32',
      'host:0',
      'host:70000',
      'host:9-3',
      '*',
      'a.*.b',
      '[::1',
      'x:y:z',
      '*.',
      '1.2.3.4:80:90',
      '',
    ]) {
      assert.throws(
        () => parseRule(bad, 'allow'),
        (e: unknown) => e instanceof RuleError && e.value === bad,
        bad,
      );
    }
  });
  test('object form with ports, action and expiry', () => {
    const r = ruleFromSpec({ host: '*.pypi.org', ports: ['443', 8000], expiresAt: '2026-12-01T00:00:00Z' });
    assert.equal(r.text, 'allow *.pypi.org:443,8000 until 2026-12-01T00:00:00.000Z');
    assert.equal(ruleFromSpec({ cidr: '169.254.0.0/16', action: 'Deny' }).action, 'deny');
    assert.throws(() => ruleFromSpec({ cidr: '1.0.0.0/8', host: 'x.com' }), RuleError);
    assert.throws(() => ruleFromSpec({ host: '10.0.0.1' }), RuleError);
    assert.throws(() => ruleFromSpec({ cidr: '10.0.0.0/8', action: 'maybe' }), RuleError);
  });
});

describe('policy decisions', () => {
  test('nothing matches: default deny, unless the default is allow', () => {
    assert.equal(decideIp(policy([]), '1.1.1.1', 443).action, 'deny');
    assert.equal(decideIp(policy([]), '1.1.1.1', 443).reason, 'default');
    assert.equal(decideIp(policy([], [], { defaultAction: 'allow' }), '1.1.1.1', 443).action, 'allow');
  });
  test('longest prefix wins, in both directions', () => {
    const p = policy(['10.0.0.0/8', '10.1.2.0/24'], ['10.1.0.0/16']);
    assert.equal(decideIp(p, '10.9.9.9', 80).action, 'allow');
    assert.equal(decideIp(p, '10.1.9.9', 80).action, 'deny');
    assert.equal(decideIp(p, '10.1.2.3', 80).action, 'allow');
    assert.equal(decideIp(p, '10.1.2.3', 80).rule, 'allow 10.1.2.0/24');
  });
  test('port-specific beats portless at the same prefix; port ranges match inclusively', () => {
    const p = policy(['10.0.0.0/8:443', '10.0.0.0/8:8000-8010'], ['10.0.0.0/8']);
    assert.equal(decideIp(p, '10.0.0.1', 443).action, 'allow');
    assert.equal(decideIp(p, '10.0.0.1', 8010).action, 'allow');
    assert.equal(decideIp(p, '10.0.0.1', 8011).action, 'deny');
    assert.equal(decideIp(p, '10.0.0.1', 80).action, 'deny');
  });
  test('at a tie deny wins', () => {
    const p = policy(['10.0.0.0/8:443'], ['10.0.0.0/8:443']);
    assert.equal(decideIp(p, '10.0.0.1', 443).action, 'deny');
    const q = policy(['example.com'], ['example.com']);
    assert.equal(q.decide('example.com', [ip('93.184.216.34')], 443, NOW).action, 'deny');
  });
  test('IPv6 prefixes and the v4-mapped form of a v4 rule', () => {
    const p = policy(['[2001:db8::/32]:443', '127.0.0.1:8080'], ['2001:db8:1::/48']);
    assert.equal(decideIp(p, '2001:db8::1', 443).action, 'allow');
    assert.equal(decideIp(p, '2001:db8:1::1', 443).action, 'deny');
    assert.equal(decideIp(p, '2001:db9::1', 443).action, 'deny');
    assert.equal(decideIp(p, '::ffff:127.0.0.1', 8080).action, 'allow');
    assert.equal(decideIp(p, '::ffff:127.0.0.1', 8081).action, 'deny');
  });
  test('loopback in every spelling is judged as loopback', () => {
    const p = policy(['0.0.0.0/0:443'], ['127.0.0.0/8']);
    for (const s of [
      '127.0.0.1',
      '127.1',
      '0x7f.0.0.1',
      '2130706433',
      '0177.0.0.1',
      '::ffff:127.0.0.1',
      '::127.0.0.1',
      '::ffff:7f00:1',
    ]) {
      const d = decideIp(p, s, 443);
      assert.equal(d.action, 'deny', s);
      assert.equal(d.rule, 'deny 127.0.0.0/8', s);
    }
  });
  test('NAT64, 6to4 and Teredo need both the IPv6 address and the embedded IPv4 to pass', () => {
    const p = policy(['::/0', '0.0.0.0/0'], ['127.0.0.0/8']);
    assert.equal(decideIp(p, '64:ff9b::7f00:1', 80).action, 'deny');
    assert.equal(decideIp(p, '2002:7f00:1::1', 80).action, 'deny');
    assert.equal(decideIp(p, '2001:0:4136:e378:8000:63bf:80ff:fffe', 80).action, 'deny');
    assert.equal(decideIp(p, '64:ff9b::808:808', 80).action, 'allow');
    assert.equal(decideIp(p, '64:ff9b:1::808:808', 80).reason, 'embedded-form');
    // the IPv6 side alone is not enough under default deny
    assert.equal(decideIp(policy(['0.0.0.0/0']), '64:ff9b::808:808', 80).action, 'deny');
  });
  test('unspecified, broadcast and multicast are never reachable, even with allow-all', () => {
    const p = policy([], [], { defaultAction: 'allow' });
    for (const s of [
      '0.0.0.0',
      '0',
      '0.1.2.3',
      '::',
      '::ffff:0.0.0.0',
      '255.255.255.255',
      '224.0.0.1',
      'ff02::1',
    ]) {
      assert.equal(decideIp(p, s, 80).action, 'deny', s);
      assert.equal(decideIp(p, s, 80).reason, 'never-reachable', s);
    }
  });
  test('own listeners are never reachable; a wildcard listener is protected on loopback and local addresses', () => {
    const p = policy([], [], {
      defaultAction: 'allow',
      ownListeners: [
        { address: ip('127.0.0.1'), port: 1080 },
        { address: ip('0.0.0.0'), port: 15021 },
      ],
      localAddresses: [ip('192.0.2.10')],
    });
    assert.equal(decideIp(p, '127.0.0.1', 1080).reason, 'own-listener');
    assert.equal(decideIp(p, '127.1', 1080).reason, 'own-listener');
    assert.equal(decideIp(p, '127.0.0.2', 15021).reason, 'own-listener');
    assert.equal(decideIp(p, '::1', 15021).reason, 'own-listener');
    assert.equal(decideIp(p, '192.0.2.10', 15021).reason, 'own-listener');
    assert.equal(decideIp(p, '127.0.0.2', 1080).action, 'allow');
    assert.equal(decideIp(p, '198.51.100.1', 15021).action, 'allow');
  });
  test('a wildcard matches names strictly below its suffix, never the bare domain or a look-alike', () => {
    const p = policy(['*.pypi.org:443']);
    const a = [ip('151.101.0.223')];
    assert.equal(p.decide('files.pypi.org', a, 443, NOW).action, 'allow');
    assert.equal(p.decide('a.b.pypi.org', a, 443, NOW).action, 'allow');
    assert.equal(p.decide('pypi.org', a, 443, NOW).action, 'deny');
    assert.equal(p.decide('evilpypi.org', a, 443, NOW).action, 'deny');
    assert.equal(p.decide('pypi.org.evil.com', a, 443, NOW).action, 'deny');
    assert.equal(p.decide('files.pypi.org', a, 80, NOW).action, 'deny');
  });
  test('exact host beats wildcard; longer wildcard beats shorter', () => {
    const p = policy(['*.example.com', 'ok.bad.example.com'], ['bad.example.com', '*.bad.example.com']);
    const a = [ip('192.0.2.1')];
    assert.equal(p.decide('x.example.com', a, 80, NOW).action, 'allow');
    assert.equal(p.decide('bad.example.com', a, 80, NOW).action, 'deny');
    assert.equal(p.decide('x.bad.example.com', a, 80, NOW).action, 'deny');
    assert.equal(p.decide('ok.bad.example.com', a, 80, NOW).action, 'allow');
  });
  test('a host rule allows the name, but a denied resolved address still denies', () => {
    const p = policy(['internal.example.com'], ['127.0.0.0/8', '169.254.0.0/16']);
    assert.equal(p.decide('internal.example.com', [ip('192.0.2.1')], 80, NOW).action, 'allow');
    const d = p.decide('internal.example.com', [ip('192.0.2.1'), ip('169.254.169.254')], 80, NOW);
    assert.equal(d.action, 'deny');
    assert.equal(d.rule, 'deny 169.254.0.0/16');
    assert.equal(formatAddress(d.address!), '169.254.169.254');
    // unspecified is refused even under a host allow
    assert.equal(p.decide('internal.example.com', [ip('0.0.0.0')], 80, NOW).reason, 'never-reachable');
  });
  test('without a host rule every resolved address needs an IP allow', () => {
    const p = policy(['192.0.2.0/24']);
    assert.equal(p.decide('a.example', [ip('192.0.2.5')], 80, NOW).action, 'allow');
    assert.equal(p.decide('a.example', [ip('192.0.2.5'), ip('198.51.100.1')], 80, NOW).action, 'deny');
    assert.equal(p.decide('a.example', [], 80, NOW).action, 'deny');
  });
  test('precheck denies names nothing could allow, so they are never resolved', () => {
    assert.equal(policy([]).precheckHost('exfil.example', 443, NOW)?.action, 'deny');
    assert.equal(policy(['x.example']).precheckHost('exfil.example', 443, NOW)?.action, 'deny');
    assert.equal(policy(['10.0.0.0/8:80']).precheckHost('exfil.example', 443, NOW)?.action, 'deny');
    assert.equal(policy(['10.0.0.0/8:443']).precheckHost('a.example', 443, NOW), null);
    assert.equal(policy(['a.example']).precheckHost('a.example', 443, NOW), null);
    assert.equal(policy([], ['a.example']).precheckHost('a.example', 443, NOW)?.rule, 'deny a.example');
  });
  test('expired rules no longer match; nextExpiry reports when to re-check', () => {
    const r = ruleFromSpec({ cidr: '10.0.0.0/8', expiresAt: '2026-07-01T00:00:00Z' });
    const p = new Policy([r], { defaultAction: 'deny' });
    assert.equal(p.decide(null, [ip('10.0.0.1')], 80, NOW).action, 'allow');
    assert.equal(p.decide(null, [ip('10.0.0.1')], 80, Date.parse('2026-07-01T00:00:00Z')).action, 'deny');
    assert.equal(p.nextExpiry(NOW), Date.parse('2026-07-01T00:00:00Z'));
  });
  test('10,000 rules decide the same as a linear scan', () => {
    const rules: Rule[] = [];
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    for (let i = 0; i < 10000; i++) {
      const len = 8 + (rnd() % 25);
      const net = (rnd() & (0xffffffff << (32 - len))) >>> 0;
      const text = `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}${rnd() % 3 === 0 ? ':443' : ''}`;
      rules.push(parseRule(text, rnd() % 4 === 0 ? 'deny' : 'allow'));
    }
    const p = new Policy(rules, { defaultAction: 'deny' });
    const linear = (a: number, port: number): string => {
      let best: Rule | null = null;
      let bestKey = -1;
      for (const r of rules) {
        if (r.target.kind !== 'cidr' || r.target.network.family !== 4) continue;
        const m = r.target.prefix === 0 ? 0 : (0xffffffff << (32 - r.target.prefix)) >>> 0;
        if ((a & m) >>> 0 !== r.target.network.v4) continue;
        if (r.ports !== null && (port < r.ports[0][0] || port > r.ports[0][1])) continue;
        const key = r.target.prefix * 4 + (r.ports === null ? 0 : 2) + (r.action === 'deny' ? 1 : 0);
        if (key > bestKey) {
          bestKey = key;
          best = r;
        }
      }
      return best === null ? 'deny default' : `${best.action} ${best.text}`;
    };
    for (let i = 0; i < 3000; i++) {
      const probe = rules[rnd() % rules.length].target;
      const base = probe.kind === 'cidr' && probe.network.family === 4 ? probe.network.v4 : 0;
      const a = (base + (rnd() % 4096)) >>> 0;
      const port = rnd() % 2 === 0 ? 443 : 80;
      const d = p.decide(null, [{ family: 4, v4: a }], port, NOW);
      const got = d.rule === null ? 'deny default' : `${d.action} ${d.rule}`;
      // unspecified, multicast and broadcast are never reachable regardless of rules
      if (a >>> 24 === 0 || a >>> 28 === 0xe || a === 0xffffffff) continue;
      assert.equal(
        got,
        linear(a, port),
        `address ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}:${port}`,
      );
    }
  });
});
