// The sans-IO core between two of our own peers, driven by a manual clock: handshake, data, key
// rotation, every timer, replay, cookies, rejection of bad input, cryptokey routing and roaming.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEchoRequest } from '../netstack/icmp/echo.ts';
import { parseAddress } from '../netstack/ip/address.ts';
import { ManualClock } from './clock.ts';
import { CookieGenerator } from './cookie.ts';
import { type DecapsulateResult, type Endpoint, type Outgoing, WireGuardCore } from './core.ts';
import { generatePrivateKey, hash, publicKeyOf } from './crypto/primitives.ts';
import { WireGuardConfigError } from './errors.ts';
import { LABEL_MAC1 } from './handshake.ts';
import { Keypair } from './keypair.ts';
import { encodeKey } from './keys.ts';
import { INITIATION_LENGTH } from './messages.ts';

const EP_A: Endpoint = { address: '192.0.2.1', port: 51820 };
const EP_B: Endpoint = { address: '192.0.2.2', port: 51820 };
const IP_A = parseAddress('10.0.0.1');
const IP_B = parseAddress('10.0.0.2');

interface Pair {
  clock: ManualClock;
  a: WireGuardCore;
  b: WireGuardCore;
  pubA: string;
  pubB: string;
  privA: Buffer;
}

function pair(opts: { persistentKeepalive?: number; psk?: boolean } = {}): Pair {
  const clock = new ManualClock();
  const privA = generatePrivateKey();
  const privB = generatePrivateKey();
  const psk = opts.psk ? Buffer.alloc(32, 0x5a) : undefined;
  const random = () => 0; // no jitter: retransmission times are exact
  const a = new WireGuardCore({ privateKey: privA, clock, random });
  const b = new WireGuardCore({ privateKey: privB, clock, random });
  a.addPeer({
    publicKey: publicKeyOf(privB),
    presharedKey: psk,
    endpoint: EP_B,
    allowedIps: ['10.0.0.2/32'],
    persistentKeepalive: opts.persistentKeepalive,
  });
  b.addPeer({
    publicKey: publicKeyOf(privA),
    presharedKey: psk,
    endpoint: EP_A,
    allowedIps: ['10.0.0.1/32'],
  });
  return { clock, a, b, pubA: a.publicKey, pubB: b.publicKey, privA };
}

function drain(core: WireGuardCore): Outgoing[] {
  const out: Outgoing[] = [];
  for (let o = core.takeOutgoing(); o; o = core.takeOutgoing()) out.push({ ...o, data: Buffer.from(o.data) });
  return out;
}

/** Carries datagrams both ways until both outboxes are empty; returns what each side delivered. */
function pump(p: Pair, fromA: Endpoint = EP_A): { toA: DecapsulateResult[]; toB: DecapsulateResult[] } {
  const toA: DecapsulateResult[] = [];
  const toB: DecapsulateResult[] = [];
  for (let round = 0; round < 20; round++) {
    const outA = drain(p.a);
    const outB = drain(p.b);
    if (outA.length === 0 && outB.length === 0) break;
    for (const o of outA) toB.push(p.b.decapsulate(o.data, fromA));
    for (const o of outB) toA.push(p.a.decapsulate(o.data, EP_B));
  }
  return { toA, toB };
}

/** A handshake with no data: initiation, response, the initiator's confirming keepalive. */
function connect(p: Pair): void {
  p.a.initiateHandshake(p.pubB);
  pump(p);
  assert.equal(p.b.sessionInfo(p.pubA).current, true);
}

function ping(src: Uint8Array, dst: Uint8Array, seq = 1): Buffer {
  return buildEchoRequest(src, dst, 7, seq, Buffer.from('lattice'));
}

function send(core: WireGuardCore, packet: Uint8Array): Buffer {
  const r = core.encapsulate(packet);
  assert.equal(r.kind, 'send');
  return Buffer.from((r as { data: Uint8Array }).data);
}

function handshake(p: Pair): void {
  assert.equal(p.a.encapsulate(ping(IP_A, IP_B)).kind, 'staged');
  const { toB } = pump(p);
  assert.ok(toB.some((r) => r.kind === 'deliver'));
}

test('full handshake: the staged packet is delivered, then data flows both ways', () => {
  const p = pair();
  const request = ping(IP_A, IP_B);
  assert.deepEqual(p.a.encapsulate(request), { kind: 'staged', peer: p.pubB });
  const first = drain(p.a);
  assert.equal(first.length, 1);
  assert.equal(first[0].data.length, INITIATION_LENGTH);
  assert.deepEqual(p.b.decapsulate(first[0].data, EP_A), { kind: 'handled' });
  assert.deepEqual(p.b.sessionInfo(p.pubA), {
    previous: false,
    current: false,
    next: true,
    handshaking: false,
  });
  const response = drain(p.b);
  assert.equal(response.length, 1);
  assert.deepEqual(p.a.decapsulate(response[0].data, EP_B), { kind: 'handled' });
  assert.deepEqual(p.a.sessionInfo(p.pubB), {
    previous: false,
    current: true,
    next: false,
    handshaking: false,
  });
  const staged = drain(p.a);
  assert.equal(staged.length, 1);
  const got = p.b.decapsulate(staged[0].data, EP_A);
  assert.equal(got.kind, 'deliver');
  assert.deepEqual(Buffer.from((got as { packet: Uint8Array }).packet), request);
  // Key confirmation moved B's session from next to current, so B can answer.
  assert.deepEqual(p.b.sessionInfo(p.pubA), {
    previous: false,
    current: true,
    next: false,
    handshaking: false,
  });
  const reply = ping(IP_B, IP_A, 2);
  const back = p.a.decapsulate(send(p.b, reply), EP_B);
  assert.deepEqual(Buffer.from((back as { packet: Uint8Array }).packet), reply);
  const stats = p.a.peerStats()[0];
  assert.ok(stats.lastHandshakeTime > 0 && stats.rxBytes > 0 && stats.txBytes > 0 && stats.connected);
  assert.deepEqual(stats.allowedIps, ['10.0.0.2/32']);
});

test('a preshared key on both sides completes the handshake; a mismatched one fails it', () => {
  const p = pair({ psk: true });
  handshake(p);
  const q = pair({ psk: true });
  q.b.updatePeer(q.pubA, { presharedKey: Buffer.alloc(32, 1) });
  q.a.encapsulate(ping(IP_A, IP_B));
  const { toA } = pump(q);
  assert.deepEqual(toA, [{ kind: 'dropped', reason: 'decrypt-failed' }]);
});

test('the responder initiating works too, and the new session rotates current into previous', () => {
  const p = pair();
  handshake(p);
  p.clock.advance(6000);
  p.b.initiateHandshake(p.pubA);
  pump(p);
  assert.deepEqual(p.b.sessionInfo(p.pubA), {
    previous: true,
    current: true,
    next: false,
    handshaking: false,
  });
  // Old-session packets still in flight are accepted through `previous`.
  const r = p.a.decapsulate(send(p.b, ping(IP_B, IP_A)), EP_B);
  assert.equal(r.kind, 'deliver');
});

test('replay: a duplicate is dropped, reordering within the window is accepted, far too old is dropped', () => {
  const p = pair();
  handshake(p);
  const d1 = send(p.a, ping(IP_A, IP_B, 1));
  const d2 = send(p.a, ping(IP_A, IP_B, 2));
  assert.equal(p.b.decapsulate(Buffer.from(d2), EP_A).kind, 'deliver');
  assert.equal(p.b.decapsulate(Buffer.from(d1), EP_A).kind, 'deliver');
  assert.deepEqual(p.b.decapsulate(Buffer.from(d1), EP_A), { kind: 'dropped', reason: 'replay' });
  const old = send(p.a, ping(IP_A, IP_B, 3));
  for (let i = 0; i < 2100; i++) p.b.decapsulate(send(p.a, ping(IP_A, IP_B, 4)), EP_A);
  assert.deepEqual(p.b.decapsulate(old, EP_A), { kind: 'dropped', reason: 'replay' });
});

test('MAC1 is checked before any DH: a flipped byte in an initiation is dropped unprocessed', () => {
  const p = pair();
  p.a.encapsulate(ping(IP_A, IP_B));
  const [init] = drain(p.a);
  const bad = Buffer.from(init.data);
  bad[50] ^= 1;
  assert.deepEqual(p.b.decapsulate(bad, EP_A), { kind: 'dropped', reason: 'bad-mac1' });
  assert.equal(p.b.initiationsProcessed, 0);
  // A peer configured with the wrong public key for B computes MAC1 under the wrong key.
  const clock = new ManualClock();
  const c = new WireGuardCore({ privateKey: generatePrivateKey(), clock });
  c.addPeer({ publicKey: publicKeyOf(generatePrivateKey()), endpoint: EP_B, allowedIps: ['10.0.0.2/32'] });
  c.encapsulate(ping(IP_A, IP_B));
  assert.deepEqual(p.b.decapsulate(drain(c)[0].data, EP_A), { kind: 'dropped', reason: 'bad-mac1' });
});

test('an initiation from a key we do not know is dropped; tampered transport fails to decrypt', () => {
  const p = pair();
  const stranger = new WireGuardCore({ privateKey: generatePrivateKey(), clock: p.clock });
  stranger.addPeer({ publicKey: Buffer.from(p.pubB, 'base64'), endpoint: EP_B, allowedIps: ['10.0.0.2/32'] });
  stranger.encapsulate(ping(IP_A, IP_B));
  assert.deepEqual(p.b.decapsulate(drain(stranger)[0].data, EP_A), {
    kind: 'dropped',
    reason: 'unknown-peer',
  });
  handshake(p);
  const d = send(p.a, ping(IP_A, IP_B));
  d[d.length - 20] ^= 0x80;
  assert.deepEqual(p.b.decapsulate(d, EP_A), { kind: 'dropped', reason: 'decrypt-failed' });
});

test('truncated, oversized and garbage datagrams are dropped as malformed', () => {
  const p = pair();
  p.a.encapsulate(ping(IP_A, IP_B));
  const [init] = drain(p.a);
  for (const d of [
    init.data.subarray(0, INITIATION_LENGTH - 1),
    Buffer.concat([init.data, Buffer.of(0)]),
    Buffer.alloc(0),
    Buffer.of(4, 0, 0, 0, 1, 2, 3),
    Buffer.of(9, 0, 0, 0),
    Buffer.from([1, 1, 0, 0, ...Buffer.alloc(144)]),
  ]) {
    assert.deepEqual(p.b.decapsulate(d, EP_A), { kind: 'dropped', reason: 'malformed' });
  }
  assert.deepEqual(p.b.decapsulate(Buffer.alloc(64, 0).fill(4, 0, 1), EP_A), {
    kind: 'dropped',
    reason: 'unknown-index',
  });
  assert.equal(p.a.encapsulate(Buffer.of(0x45, 0)).kind, 'refused');
});

test('a replayed initiation is refused by its timestamp; a second one within 20 ms is a flood', () => {
  const p = pair();
  p.a.encapsulate(ping(IP_A, IP_B));
  const [init] = drain(p.a);
  assert.equal(p.b.decapsulate(init.data, EP_A).kind, 'handled');
  drain(p.b);
  assert.deepEqual(p.b.decapsulate(init.data, EP_A), { kind: 'dropped', reason: 'replayed-initiation' });
  // The same identity restarted: a fresh initiation with a newer timestamp, 10 ms after the last.
  p.clock.advance(10);
  const restarted = new WireGuardCore({ privateKey: p.privA, clock: p.clock });
  restarted.addPeer({
    publicKey: Buffer.from(p.pubB, 'base64'),
    endpoint: EP_B,
    allowedIps: ['10.0.0.2/32'],
  });
  restarted.encapsulate(ping(IP_A, IP_B));
  const fresh = drain(restarted)[0].data;
  assert.deepEqual(p.b.decapsulate(fresh, EP_A), { kind: 'dropped', reason: 'initiation-flood' });
});

test('cookie path: under load the responder answers with a cookie and accepts the retry carrying MAC2', () => {
  const p = pair();
  p.b.setUnderLoad(true);
  p.a.encapsulate(ping(IP_A, IP_B));
  const [init] = drain(p.a);
  assert.deepEqual(p.b.decapsulate(init.data, EP_A), { kind: 'dropped', reason: 'bad-mac2' });
  assert.equal(p.b.initiationsProcessed, 0);
  const [cookie] = drain(p.b);
  assert.equal(cookie.data.length, 64);
  assert.deepEqual(p.a.decapsulate(cookie.data, EP_B), { kind: 'handled' });
  // The cookie binds the source address: the same retry from elsewhere still lacks a valid MAC2.
  p.clock.advance(5000);
  p.a.tick();
  const [retry] = drain(p.a);
  assert.equal(p.b.decapsulate(Buffer.from(retry.data), { address: '192.0.2.9', port: 1 }).kind, 'dropped');
  drain(p.b);
  assert.deepEqual(p.b.decapsulate(retry.data, EP_A), { kind: 'handled' });
  const { toB } = pump(p);
  assert.equal(toB[0].kind, 'deliver');
});

test('a flood of valid-MAC1 initiations trips under-load: most get cookie replies, no DH', () => {
  const p = pair();
  const attacker = new WireGuardCore({ privateKey: generatePrivateKey(), clock: p.clock });
  attacker.addPeer({ publicKey: Buffer.from(p.pubB, 'base64'), endpoint: EP_B, allowedIps: ['0.0.0.0/0'] });
  attacker.encapsulate(ping(IP_A, IP_B));
  const [init] = drain(attacker);
  for (let i = 0; i < 1000; i++) p.b.decapsulate(init.data, { address: '198.51.100.7', port: 1000 + i });
  assert.ok(p.b.initiationsProcessed <= 65, `processed ${p.b.initiationsProcessed}`);
  assert.ok((p.b.drops.get('bad-mac2') ?? 0) >= 935);
});

test('timer: handshake retransmits every rekey-timeout, gives up after rekey-attempt-time', () => {
  const p = pair();
  p.a.encapsulate(ping(IP_A, IP_B));
  let sent = drain(p.a).length;
  for (let t = 0; t < 100; t++) {
    p.clock.advance(1000);
    p.a.tick();
    sent += drain(p.a).length;
  }
  assert.equal(sent, 19); // the first + 18 retransmissions (90 s / 5 s)
  assert.equal(p.a.sessionInfo(p.pubB).handshaking, false);
  // Staged packets were dropped with the attempt: a new handshake delivers nothing old.
  p.a.initiateHandshake(p.pubB);
  const { toB } = pump(p);
  assert.ok(toB.every((r) => r.kind !== 'deliver'));
});

test('timer: a passive keepalive follows received data after 10 s of silence', () => {
  const p = pair();
  handshake(p);
  pump(p);
  p.b.decapsulate(send(p.a, ping(IP_A, IP_B, 9)), EP_A);
  p.clock.advance(9999);
  p.b.tick();
  assert.equal(drain(p.b).length, 0);
  p.clock.advance(1);
  p.b.tick();
  const [ka] = drain(p.b);
  assert.equal(ka.data.length, 32);
  assert.deepEqual(p.a.decapsulate(ka.data, EP_B), { kind: 'handled' });
});

test('timer: data arriving while a keepalive is pending earns one more keepalive interval', () => {
  const p = pair();
  connect(p);
  p.b.decapsulate(send(p.a, ping(IP_A, IP_B, 1)), EP_A);
  p.clock.advance(5000);
  p.b.decapsulate(send(p.a, ping(IP_A, IP_B, 2)), EP_A);
  p.clock.advance(5000);
  p.b.tick();
  assert.equal(drain(p.b).length, 1);
  p.clock.advance(10_000);
  p.b.tick();
  assert.equal(drain(p.b).length, 1);
  p.clock.advance(10_000);
  p.b.tick();
  assert.equal(drain(p.b).length, 0);
});

test('timer: retransmissions carry up to 333 ms of jitter', () => {
  const clock = new ManualClock();
  const privB = generatePrivateKey();
  const a = new WireGuardCore({ privateKey: generatePrivateKey(), clock, random: () => 0.999 });
  a.addPeer({ publicKey: publicKeyOf(privB), endpoint: EP_B, allowedIps: ['10.0.0.2/32'] });
  a.encapsulate(ping(IP_A, IP_B));
  drain(a);
  clock.advance(5331); // 5000 + floor(0.999 * 333)
  a.tick();
  assert.equal(drain(a).length, 0);
  clock.advance(1);
  a.tick();
  assert.equal(drain(a).length, 1);
});

test('timer: sending data without hearing back for 15 s starts a new handshake', () => {
  const p = pair();
  connect(p);
  p.clock.advance(6000);
  send(p.a, ping(IP_A, IP_B));
  p.clock.advance(14_999);
  p.a.tick();
  assert.equal(drain(p.a).length, 0);
  p.clock.advance(1);
  p.a.tick();
  const out = drain(p.a);
  assert.equal(out.length, 1);
  assert.equal(out[0].data.length, INITIATION_LENGTH);
});

test('timer: the initiator rekeys after 120 s when sending, and at 165 s when only receiving', () => {
  const p = pair();
  handshake(p);
  pump(p);
  p.clock.advance(120_000);
  send(p.a, ping(IP_A, IP_B));
  const out = drain(p.a);
  assert.deepEqual(
    out.map((o) => o.data.length),
    [INITIATION_LENGTH],
  );
  const q = pair();
  handshake(q);
  pump(q);
  q.clock.advance(164_000);
  q.a.decapsulate(send(q.b, ping(IP_B, IP_A)), EP_B);
  assert.equal(drain(q.a).filter((o) => o.data.length === INITIATION_LENGTH).length, 0);
  q.clock.advance(1000);
  q.a.decapsulate(send(q.b, ping(IP_B, IP_A)), EP_B);
  assert.equal(drain(q.a).filter((o) => o.data.length === INITIATION_LENGTH).length, 1);
});

test('timer: after 180 s a session is neither used to send nor accepted', () => {
  const p = pair();
  handshake(p);
  pump(p);
  const late = send(p.a, ping(IP_A, IP_B));
  p.clock.advance(180_000);
  assert.deepEqual(p.b.decapsulate(late, EP_A), { kind: 'dropped', reason: 'expired-keypair' });
  assert.equal(p.a.encapsulate(ping(IP_A, IP_B)).kind, 'staged');
  assert.equal(p.a.peerStats()[0].connected, false);
});

test('timer: key material is zeroed 540 s after the last session was derived', () => {
  const p = pair();
  handshake(p);
  pump(p);
  p.clock.advance(539_999);
  p.a.tick();
  assert.equal(p.a.sessionInfo(p.pubB).current, true);
  p.clock.advance(1);
  p.a.tick();
  assert.deepEqual(p.a.sessionInfo(p.pubB), {
    previous: false,
    current: false,
    next: false,
    handshaking: false,
  });
});

test('timer: persistent keepalive sends every N seconds of idleness', () => {
  const p = pair({ persistentKeepalive: 25 });
  connect(p);
  p.clock.advance(24_000);
  p.a.tick();
  assert.equal(drain(p.a).length, 0);
  p.clock.advance(1000);
  p.a.tick();
  const [ka] = drain(p.a);
  assert.equal(ka.data.length, 32);
  p.clock.advance(25_000);
  p.a.tick();
  assert.equal(drain(p.a).length, 1);
});

test('cryptokey routing: longest prefix picks the peer; a spoofed inner source is dropped', () => {
  const p = pair();
  const privC = generatePrivateKey();
  p.a.updatePeer(p.pubB, { allowedIps: ['10.0.0.0/8', 'fd00::1/64'] });
  assert.deepEqual(p.a.peerStats()[0].allowedIps, ['10.0.0.0/8', 'fd00::/64']);
  p.a.addPeer({
    publicKey: publicKeyOf(privC),
    endpoint: { address: '192.0.2.3', port: 1 },
    allowedIps: ['10.0.0.3/32'],
  });
  const toC = p.a.encapsulate(ping(IP_A, parseAddress('10.0.0.3')));
  assert.deepEqual(toC, { kind: 'staged', peer: encodeKey(publicKeyOf(privC)) });
  assert.deepEqual(p.a.encapsulate(ping(IP_A, parseAddress('10.9.9.9'))), { kind: 'staged', peer: p.pubB });
  assert.deepEqual(p.a.encapsulate(ping(IP_A, parseAddress('192.168.1.1'))), {
    kind: 'refused',
    reason: 'no-route',
  });
  drain(p.a);
  p.clock.advance(5000);
  handshake(p);
  const spoofed = send(p.a, ping(parseAddress('10.0.0.99'), IP_B));
  assert.deepEqual(p.b.decapsulate(spoofed, EP_A), { kind: 'dropped', reason: 'source-not-allowed' });
});

test('IPv6 inner packets are routed and source-checked like IPv4', () => {
  const p = pair();
  p.a.updatePeer(p.pubB, { allowedIps: ['10.0.0.2/32', 'fd00:b::/64'] });
  p.b.updatePeer(p.pubA, { allowedIps: ['10.0.0.1/32', 'fd00:a::1/128'] });
  connect(p);
  const v6 = ping(parseAddress('fd00:a::1'), parseAddress('fd00:b::42'));
  const got = p.b.decapsulate(send(p.a, v6), EP_A);
  assert.deepEqual(Buffer.from((got as { packet: Uint8Array }).packet), v6);
  const spoofed = send(p.a, ping(parseAddress('fd00:a::2'), parseAddress('fd00:b::42')));
  assert.deepEqual(p.b.decapsulate(spoofed, EP_A), { kind: 'dropped', reason: 'source-not-allowed' });
  assert.deepEqual(p.a.encapsulate(ping(parseAddress('fd00:a::1'), parseAddress('fd00:c::1'))), {
    kind: 'refused',
    reason: 'no-route',
  });
});

test('roaming: an authenticated packet from a new address moves the peer endpoint there', () => {
  const p = pair();
  handshake(p);
  const moved: Endpoint = { address: '2001:db8::7', port: 40000 };
  assert.equal(p.b.decapsulate(send(p.a, ping(IP_A, IP_B)), moved).kind, 'deliver');
  assert.deepEqual(p.b.peerStats()[0].endpoint, moved);
  const r = p.b.encapsulate(ping(IP_B, IP_A));
  assert.equal(r.kind, 'send');
  assert.deepEqual((r as { to: Endpoint }).to, moved);
  // An unauthenticated datagram from elsewhere does not move it.
  p.b.decapsulate(Buffer.alloc(64).fill(4, 0, 1), EP_A);
  assert.deepEqual(p.b.peerStats()[0].endpoint, moved);
  // Nor does an authenticated one whose source the socket did not report (read in a burst): not a
  // transport packet, and not a new handshake, whose response goes to the endpoint it knows.
  const guessed: Endpoint = { address: '192.0.2.9', port: 51820 };
  assert.equal(p.b.decapsulate(send(p.a, ping(IP_A, IP_B)), guessed, false).kind, 'deliver');
  assert.deepEqual(p.b.peerStats()[0].endpoint, moved);
  p.clock.advance(6_000); // past REKEY_TIMEOUT, so A may initiate again
  p.a.initiateHandshake(p.pubB);
  const init = p.a.takeOutgoing();
  assert.ok(init);
  assert.equal(p.b.decapsulate(init.data, guessed, false).kind, 'handled');
  assert.deepEqual(p.b.peerStats()[0].endpoint, moved);
  assert.deepEqual(p.b.takeOutgoing()?.to, moved);
});

test('peers: low-order keys, our own key and duplicates are refused; removal forgets sessions', () => {
  const p = pair();
  assert.throws(() => p.a.addPeer({ publicKey: Buffer.alloc(32) }), WireGuardConfigError);
  assert.throws(() => p.a.addPeer({ publicKey: Buffer.from(p.pubA, 'base64') }), WireGuardConfigError);
  assert.throws(() => p.a.addPeer({ publicKey: Buffer.from(p.pubB, 'base64') }), WireGuardConfigError);
  handshake(p);
  const d = send(p.a, ping(IP_A, IP_B));
  p.b.removePeer(p.pubA);
  assert.deepEqual(p.b.decapsulate(d, EP_A), { kind: 'dropped', reason: 'unknown-index' });
  assert.equal(p.b.peerStats().length, 0);
});

test('padding: to a multiple of 16, but a packet at the MTU is not padded past it', () => {
  const p = pair();
  handshake(p);
  const sizes = [21, 1419, 1420].map((n) => {
    const pkt = Buffer.alloc(n);
    pkt.set(ping(IP_A, IP_B).subarray(0, 20));
    pkt.writeUInt16BE(n, 2);
    return send(p.a, pkt).length - 32;
  });
  assert.deepEqual(sizes, [32, 1420, 1420]);
});

test('an initiation whose ephemeral key is of low order is dropped, even with a valid MAC1', () => {
  const p = pair();
  p.a.encapsulate(ping(IP_A, IP_B));
  const init = Buffer.from(drain(p.a)[0].data);
  init.fill(0, 8, 40); // ephemeral := 0
  const macs = new CookieGenerator(
    hash(LABEL_MAC1, Buffer.from(p.pubB, 'base64')),
    Buffer.alloc(32),
    120_000,
  );
  macs.addMacs(init, p.clock.now());
  assert.deepEqual(p.b.decapsulate(init, EP_A), { kind: 'dropped', reason: 'low-order-key' });
});

test('a dropped keypair has its keys overwritten with zeros', () => {
  const kp = new Keypair(
    { sendKey: Buffer.alloc(32, 1), receiveKey: Buffer.alloc(32, 2), localIndex: 1, remoteIndex: 2 },
    true,
    0,
  );
  kp.zero();
  assert.deepEqual(kp.sendKey, Buffer.alloc(32));
  assert.deepEqual(kp.receiveKey, Buffer.alloc(32));
  assert.equal(kp.zeroed, true);
});

test('destroy wipes sessions and peers', () => {
  const p = pair();
  handshake(p);
  const d = send(p.a, ping(IP_A, IP_B));
  p.b.destroy();
  assert.deepEqual(p.b.decapsulate(d, EP_A), { kind: 'dropped', reason: 'unknown-index' });
  assert.equal(p.b.peerStats().length, 0);
});
