// Hostile input: overlay peers can send the netstack anything. Mutated and random packets, fed into
// a stack with live connections, must never throw, and the connections must still work afterwards.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { seededRandom } from '../../e2e/testing/seeded-random.ts';
import { parseAddress } from './ip/address.ts';
import { checksum, finishChecksum, pseudoHeaderSum, sumWords } from './ip/checksum.ts';
import { SimNetwork } from './testing/sim-link.ts';
import { pseudoRandomBytes, pump, Sink, sha256 } from './testing/transfer.ts';

const A = parseAddress('10.6.0.1');
const B = parseAddress('10.6.0.2');

/** Re-fixes the IPv4 header and TCP/UDP checksums so a mutation reaches the deeper parsers. */
function fixChecksums(p: Buffer): void {
  if (p.length < 20 || p[0] >> 4 !== 4) return;
  const ihl = (p[0] & 15) * 4;
  if (ihl < 20 || ihl > p.length) return;
  p.writeUInt16BE(0, 10);
  p.writeUInt16BE(checksum(p, 0, ihl), 10);
  const total = Math.min(p.readUInt16BE(2), p.length);
  const proto = p[9];
  const off = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (off < 0 || ihl + off + 2 > total) return;
  p.writeUInt16BE(0, ihl + off);
  const sum = sumWords(
    p,
    ihl,
    total,
    pseudoHeaderSum(p.subarray(12, 16), p.subarray(16, 20), proto, total - ihl),
  );
  p.writeUInt16BE(finishChecksum(sum), ihl + off);
}

it('survives 20,000 mutated packets and keeps its connections working', () => {
  const net = new SimNetwork(21, { delayMs: 2 }, A, B);
  let server: Sink | null = null;
  net.b.listen(80, (c) => {
    server = new Sink(c);
  });
  const client = net.a.connect(B, 80);
  new Sink(client);
  const data = pseudoRandomBytes(300_000, 21);
  const captured: Buffer[] = [];
  net.filter = (from, p) => {
    if (from === 'a' && captured.length < 400) captured.push(Buffer.from(p));
    return true;
  };
  pump(client, data, 64 * 1024, false);
  net.run(() => captured.length >= 200, 10_000);
  const r = seededRandom(99);
  const rand = (n: number) => Math.floor(r() * n);
  for (let i = 0; i < 20_000; i++) {
    const base = captured[rand(captured.length)];
    let p: Buffer;
    switch (i % 5) {
      case 0: // random bytes
        p = Buffer.from(pseudoRandomBytes(rand(1500), i));
        break;
      case 1: // flip bytes anywhere, fix checksums so the TCP layer sees it
        p = Buffer.from(base);
        for (let k = 0; k < 1 + rand(6); k++) p[rand(p.length)] = rand(256);
        fixChecksums(p);
        break;
      case 2: // truncate
        p = Buffer.from(base.subarray(0, rand(base.length)));
        fixChecksums(p);
        break;
      case 3: // mutate the TCP header only (flags, offsets, options, sequence numbers)
        p = Buffer.from(base);
        for (let k = 0; k < 1 + rand(4); k++) p[20 + rand(40)] = rand(256);
        fixChecksums(p);
        break;
      default: // the same with a UDP or ICMP protocol number
        p = Buffer.from(base);
        p[9] = [1, 17, 58, 6][rand(4)];
        fixChecksums(p);
    }
    net.b.input(p);
    if (i % 100 === 0) net.b.flush();
  }
  net.b.flush();
  // The fuzzing may legitimately have reset the first connection (an exact in-window RST can be
  // guessed from a captured packet); a new connection must work regardless.
  net.filter = null;
  const c2 = net.a.connect(B, 80);
  new Sink(c2);
  const before = server;
  pump(c2, data);
  assert.ok(
    net.run(() => server !== before && (server as Sink).ended, 60_000),
    'a fresh connection completes',
  );
  assert.equal(sha256((server as unknown as Sink).data()), sha256(data));
});
