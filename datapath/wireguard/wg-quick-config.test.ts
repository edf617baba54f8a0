import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCidr } from './allowed-ips.ts';
import { encodeKey, genkey, pubkey } from './keys.ts';
import { parseWgQuickConfig, WgQuickConfigError } from './wg-quick-config.ts';

const PRIV = genkey();
const PEER = pubkey(genkey());
const PSK = genkey();

test('a full wg-quick file parses, comments and case of keys notwithstanding', () => {
  const c = parseWgQuickConfig(
    `# a sandbox joining an existing network
[Interface]
PrivateKey = ${PRIV}
Address = 10.8.0.5/24, fd08::5/64
listenport = 51820
MTU = 1420
PostUp = iptables -A FORWARD -j ACCEPT   # ignored, never run
DNS = 1.1.1.1

[Peer]
PublicKey = ${PEER}
PresharedKey = ${PSK}
Endpoint = vpn.example.com:51820
AllowedIPs = 10.8.0.0/24
AllowedIPs = fd08::/64
PersistentKeepalive = 25

[Peer]
PublicKey = ${pubkey(genkey())}
Endpoint = [2001:db8::1]:4500
AllowedIPs = 10.9.0.1/32
`,
    'wg0.conf',
  );
  assert.equal(encodeKey(c.privateKey), PRIV);
  assert.deepEqual(c.addresses.map(formatCidr), ['10.8.0.5/24', 'fd08::5/64']);
  assert.equal(c.listenPort, 51820);
  assert.equal(c.mtu, 1420);
  assert.deepEqual(
    c.ignored.map((x) => x.key),
    ['PostUp', 'DNS'],
  );
  assert.equal(c.peers.length, 2);
  assert.equal(encodeKey(c.peers[0].publicKey), PEER);
  assert.equal(encodeKey(c.peers[0].presharedKey!), PSK);
  assert.deepEqual(c.peers[0].endpoint, { host: 'vpn.example.com', port: 51820 });
  assert.deepEqual(c.peers[0].allowedIps, ['10.8.0.0/24', 'fd08::/64']);
  assert.equal(c.peers[0].persistentKeepalive, 25);
  assert.deepEqual(c.peers[1].endpoint, { host: '2001:db8::1', port: 4500 });
});

test('errors name the file, line and key, and never echo a key', () => {
  const cases: [string, RegExp][] = [
    [
      `[Interface]\nPrivateKey = ${PRIV.slice(0, 20)}\n`,
      /^f:2: \[Interface\] PrivateKey: not a 32-byte base64/,
    ],
    [
      `[Interface]\nPrivateKey = ${PRIV}\nListenPort = 70000\n`,
      /^f:3: \[Interface\] ListenPort: must be an integer/,
    ],
    [`[Interface]\nPrivateKey = ${PRIV}\nFoo = 1\n`, /^f:3: \[Interface\] Foo: unknown key/],
    [
      `[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nAllowedIPs = 10.0.0.0/8\n`,
      /^f:3: \[Peer\]: PublicKey is required/,
    ],
    [
      `[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nPublicKey = ${PEER}\nAllowedIPs = 10.0.0.0/40\n`,
      /^f:5: \[Peer\] AllowedIPs: bad prefix/,
    ],
    [
      `[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nPublicKey = ${PEER}\nEndpoint = host\n`,
      /^f:5: \[Peer\] Endpoint: must be HOST:PORT/,
    ],
    [
      `[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nPublicKey = ${PEER}\n[Peer]\nPublicKey = ${PEER}\n`,
      /^f:5: \[Peer\]: duplicate peer/,
    ],
    [`PrivateKey = ${PRIV}\n`, /^f:1: PrivateKey: appears before/],
    [`[Interface]\nAddress = 10.0.0.1/24\n`, /PrivateKey is required/],
    [`[Peer]\nPublicKey = ${PEER}\n`, /no \[Interface\] section/],
    [`[Interface]\nPrivateKey = ${PRIV}\n[Interface]\n`, /^f:3: a second \[Interface\]/],
    [`[Interface]\nPrivateKey = ${PRIV}\njust words\n`, /^f:3: expected "Key = Value"/],
    [`[Wat]\n`, /^f:1: unknown section/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseWgQuickConfig(text, 'f'),
      (e: unknown) =>
        e instanceof WgQuickConfigError && re.test(e.message) && !e.message.includes(PRIV.slice(0, 20)),
      text,
    );
  }
});
