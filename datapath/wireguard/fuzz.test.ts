// Mutated protocol messages never make the core throw: every datagram ends as a delivery, a handled
// handshake, or a counted drop. Mutations are deterministic (seeded) and, for handshake messages, MAC1
// is recomputed after mutating so the bytes reach the Noise code instead of stopping at the MAC check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../e2e/testing/seeded-random.ts';
import { buildEchoRequest } from '../netstack/icmp/echo.ts';
import { parseAddress } from '../netstack/ip/address.ts';
import { ManualClock } from './clock.ts';
import { CookieGenerator } from './cookie.ts';
import { type Endpoint, WireGuardCore } from './core.ts';
import { generatePrivateKey, hash, publicKeyOf } from './crypto/primitives.ts';
import { LABEL_MAC1 } from './handshake.ts';

test('20,000 mutated handshake, cookie and transport datagrams: no throw, every one accounted for', () => {
  const clock = new ManualClock();
  const privA = generatePrivateKey();
  const privB = generatePrivateKey();
  const a = new WireGuardCore({ privateKey: privA, clock });
  const b = new WireGuardCore({ privateKey: privB, clock });
  const EP_A: Endpoint = { address: '192.0.2.1', port: 1 };
  const EP_B: Endpoint = { address: '192.0.2.2', port: 2 };
  a.addPeer({ publicKey: publicKeyOf(privB), endpoint: EP_B, allowedIps: ['10.0.0.2/32'] });
  b.addPeer({ publicKey: publicKeyOf(privA), endpoint: EP_A, allowedIps: ['10.0.0.1/32'] });

  // Collect one of each message type from a real exchange.
  const samples: Buffer[] = [];
  a.encapsulate(buildEchoRequest(parseAddress('10.0.0.1'), parseAddress('10.0.0.2'), 1, 1));
  const init = Buffer.from(a.takeOutgoing()!.data);
  samples.push(init);
  b.decapsulate(Buffer.from(init), EP_A);
  const resp = Buffer.from(b.takeOutgoing()!.data);
  samples.push(resp);
  a.decapsulate(Buffer.from(resp), EP_B);
  for (let o = a.takeOutgoing(); o; o = a.takeOutgoing()) samples.push(Buffer.from(o.data));
  b.setUnderLoad(true);
  clock.advance(6000);
  a.initiateHandshake(b.publicKey);
  b.decapsulate(Buffer.from(a.takeOutgoing()!.data), EP_A);
  samples.push(Buffer.from(b.takeOutgoing()!.data)); // a cookie reply
  b.setUnderLoad(false);
  assert.deepEqual(
    samples.map((s) => s[0]),
    [1, 2, 4, 3],
  );

  const macToB = new CookieGenerator(hash(LABEL_MAC1, publicKeyOf(privB)), Buffer.alloc(32), 120_000);
  const macToA = new CookieGenerator(hash(LABEL_MAC1, publicKeyOf(privA)), Buffer.alloc(32), 120_000);
  const rnd = seededRandom(7);
  let outcomes = 0;
  for (let i = 0; i < 20_000; i++) {
    const base = samples[i % samples.length];
    let d = Buffer.from(base);
    const flips = 1 + Math.floor(rnd() * 8);
    for (let f = 0; f < flips; f++) d[Math.floor(rnd() * d.length)] ^= 1 << Math.floor(rnd() * 8);
    if (rnd() < 0.1) d = d.subarray(0, Math.floor(rnd() * d.length));
    if (rnd() < 0.05) d = Buffer.concat([d, Buffer.alloc(Math.floor(rnd() * 64))]);
    if (d.length > 4) d.fill(0, 1, 4); // keep the reserved bytes valid so more reach the parsers
    if ((d[0] === 1 && d.length === 148) || (d[0] === 2 && d.length === 92)) {
      (d[0] === 1 ? macToB : macToA).addMacs(d, clock.now());
    }
    clock.advance(25); // past the 20 ms initiation flood guard
    const target = d[0] === 2 || d[0] === 3 ? a : b;
    const r = target.decapsulate(d, i % 2 === 0 ? EP_A : { address: '198.51.100.1', port: i });
    assert.ok(['deliver', 'handled', 'dropped'].includes(r.kind));
    outcomes++;
    for (let o = a.takeOutgoing(); o; o = a.takeOutgoing());
    for (let o = b.takeOutgoing(); o; o = b.takeOutgoing());
  }
  assert.equal(outcomes, 20_000);
  // The mutations reached deep: the Noise code and the AEAD refused them, not only the framing.
  assert.ok((b.drops.get('decrypt-failed') ?? 0) > 100, JSON.stringify([...b.drops]));
  assert.ok((b.drops.get('malformed') ?? 0) > 100);
});
