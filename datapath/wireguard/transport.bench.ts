// `make bench`: the WireGuard sans-IO core's speed next to the bare AEAD measured in the same run.
//   handshakes/s        full Noise_IKpsk2 exchange between two cores (4 X25519 each side + KDFs + MACs)
//   transport path      encapsulate → decapsulate of 1420-byte inner packets (header, padding, AEAD seal
//                       and open, replay window, cryptokey routing, timers bookkeeping)
//   bare AEAD           sodium-native ChaCha20-Poly1305 seal + open of the same 1420 bytes, in place
// Target: the transport path keeps at least 80 % of the bare AEAD's speed.

import { parseAddress } from '../netstack/ip/address.ts';
import { buildIpPacket, PROTO_UDP } from '../netstack/ip/packet.ts';
import { ManualClock } from './clock.ts';
import { type Endpoint, WireGuardCore } from './core.ts';
import { generatePrivateKey, publicKeyOf } from './crypto/primitives.ts';
import { sodium } from './crypto/sodium.ts';

const PACKET = 1420;
const EP_A: Endpoint = { address: '192.0.2.1', port: 1 };
const EP_B: Endpoint = { address: '192.0.2.2', port: 2 };

function timeIt(budgetMs: number, batch: number, fn: () => void): { ops: number; ms: number } {
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budgetMs) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    now = performance.now();
  }
  return { ops, ms: now - start };
}

function pairOfCores(clock: ManualClock): { a: WireGuardCore; b: WireGuardCore } {
  const privA = generatePrivateKey();
  const privB = generatePrivateKey();
  const a = new WireGuardCore({ privateKey: privA, clock });
  const b = new WireGuardCore({ privateKey: privB, clock, underLoadThreshold: Number.POSITIVE_INFINITY });
  a.addPeer({ publicKey: publicKeyOf(privB), endpoint: EP_B, allowedIps: ['10.0.0.2/32'] });
  b.addPeer({ publicKey: publicKeyOf(privA), endpoint: EP_A, allowedIps: ['10.0.0.1/32'] });
  return { a, b };
}

function pump(a: WireGuardCore, b: WireGuardCore): void {
  for (let round = 0; round < 4; round++) {
    for (let o = a.takeOutgoing(); o; o = a.takeOutgoing()) b.decapsulate(o.data, EP_A);
    for (let o = b.takeOutgoing(); o; o = b.takeOutgoing()) a.decapsulate(o.data, EP_B);
  }
}

// Handshakes: each iteration advances the clock past rekey-timeout so a new initiation is allowed.
const hsClock = new ManualClock();
const hs = pairOfCores(hsClock);
const pubB = hs.b.publicKey;
const handshakes = timeIt(1500, 10, () => {
  hsClock.advance(5001);
  hs.a.initiateHandshake(pubB);
  pump(hs.a, hs.b);
});

// Transport path.
const clock = new ManualClock();
const { a, b } = pairOfCores(clock);
a.initiateHandshake(b.publicKey);
pump(a, b);
const inner = buildIpPacket(
  { src: parseAddress('10.0.0.1'), dst: parseAddress('10.0.0.2'), protocol: PROTO_UDP },
  Buffer.alloc(PACKET - 20, 0xab),
);
let delivered = 0;
const transportBatch = (n: number) => {
  for (let i = 0; i < n; i++) {
    const r = a.encapsulate(inner);
    if (r.kind !== 'send') throw new Error(`encapsulate: ${r.kind}`);
    if (b.decapsulate(r.data, EP_A).kind === 'deliver') delivered++;
  }
};

// Bare AEAD on the same size, seal then open in place with a fresh nonce each time.
const key = Buffer.alloc(32, 1);
const nonce = Buffer.alloc(12);
const buf = Buffer.alloc(PACKET + 16);
const msg = buf.subarray(0, PACKET);
let n = 0;
const aeadBatch = (count: number) => {
  for (let i = 0; i < count; i++) {
    nonce.writeUInt32LE(n++, 4);
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(buf, msg, null, null, nonce, key);
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(msg, null, buf, null, nonce, key);
  }
};
const sealOnly = timeIt(1000, 256, () => {
  nonce.writeUInt32LE(n++, 4);
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(buf, msg, null, null, nonce, key);
});

// The machine's 2 cores are shared, so load changes during a run. The two paths are interleaved in
// small batches (a few ms each) and compared round by round: the median of the per-round ratios is
// the figure that load does not distort; throughput is the fastest quarter of rounds.
const BATCH = 512;
const ROUNDS = 150;
transportBatch(BATCH);
aeadBatch(BATCH);
const ratios: number[] = [];
const tRates: number[] = [];
const aRates: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  let t0 = performance.now();
  transportBatch(BATCH);
  const tMs = performance.now() - t0;
  t0 = performance.now();
  aeadBatch(BATCH);
  const aMs = performance.now() - t0;
  ratios.push(aMs / tMs);
  tRates.push((BATCH * 1000) / tMs);
  aRates.push((BATCH * 1000) / aMs);
}
if (delivered === 0) throw new Error('nothing delivered');
const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];
const topQuarter = (xs: number[]) => sorted(xs)[Math.floor(xs.length * 0.75)];
const transport = { ops: topQuarter(tRates), ms: 1000 };
const aead = { ops: topQuarter(aRates), ms: 1000 };
const ratio = median(ratios);

const perSec = (r: { ops: number; ms: number }) => (r.ops * 1000) / r.ms;
const mbps = (r: { ops: number; ms: number }) => (perSec(r) * PACKET) / 1e6;
const fmt = (x: number, d = 0) =>
  x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

console.log(
  `node ${process.version}, ${PACKET}-byte inner packets, one core, ${ROUNDS} interleaved rounds of ${BATCH} packets per path\n`,
);
console.log('| path | ops/s | MB/s (inner bytes) | vs bare AEAD seal+open |');
console.log('|---|---:|---:|---:|');
console.log(
  `| WireGuard encapsulate → decapsulate | ${fmt(perSec(transport))} pkt/s | ${fmt(mbps(transport), 1)} | ${fmt(100 * ratio, 1)} % (median of rounds) |`,
);
console.log(
  `| bare sodium AEAD seal + open (peer) | ${fmt(perSec(aead))} pkt/s | ${fmt(mbps(aead), 1)} | 100 % |`,
);
console.log(
  `| bare sodium AEAD seal only | ${fmt(perSec(sealOnly))} pkt/s | ${fmt(mbps(sealOnly), 1)} | – |`,
);
console.log(`| full handshake (both sides) | ${fmt(perSec(handshakes), 1)} handshakes/s | – | – |`);
