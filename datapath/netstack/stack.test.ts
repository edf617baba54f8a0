// The stack object: what it answers by itself (ICMP echo, RST, port unreachable), UDP sockets,
// IPv6 TCP, and drops counted by reason.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildEchoRequest, parseEcho } from './icmp/echo.ts';
import { parseAddress } from './ip/address.ts';
import { checksum } from './ip/checksum.ts';
import { buildIpPacket, parseIpPacket } from './ip/packet.ts';
import { Netstack } from './stack.ts';
import { parseTcpSegment } from './tcp/segment.ts';
import { SimNetwork } from './testing/sim-link.ts';
import { pseudoRandomBytes, pump, Sink, sha256 } from './testing/transfer.ts';
import { buildUdpPacket, parseUdp } from './udp/datagram.ts';

const ME = parseAddress('10.5.0.1');
const PEER = parseAddress('10.5.0.2');

function lone(linkAuthenticated = false) {
  const out: Buffer[] = [];
  let t = 0;
  const stack = new Netstack({
    linkAuthenticated,
    addresses: [ME, parseAddress('fd05::1')],
    output: (p) => out.push(p),
    now: () => t,
    randomBytes: (n) => Buffer.alloc(n, 7),
  });
  return { stack, out, advance: (ms: number) => (t += ms) };
}

describe('Netstack', () => {
  it('answers ICMP echo for its own addresses, IPv4 and IPv6', () => {
    const { stack, out } = lone();
    stack.input(buildEchoRequest(PEER, ME, 9, 1, Buffer.from('hi')));
    stack.input(buildEchoRequest(parseAddress('fd05::2'), parseAddress('fd05::1'), 9, 2, Buffer.from('hi')));
    assert.equal(out.length, 2);
    for (const p of out) {
      const r = parseIpPacket(p);
      assert.ok(r.ok);
      assert.equal(parseEcho(r.packet)?.data.toString(), 'hi');
    }
    assert.equal(stack.snapshot().icmpEchoReplies, 2);
  });

  it('drops packets for other addresses and fragments, counting each reason', () => {
    const { stack, out } = lone();
    stack.input(buildEchoRequest(PEER, parseAddress('10.5.0.99'), 1, 1));
    const frag = buildEchoRequest(PEER, ME, 1, 1);
    frag[6] = 0x20; // MF
    frag.writeUInt16BE(0, 10);
    frag.writeUInt16BE(checksum(frag, 0, 20), 10);
    stack.input(frag);
    stack.input(Buffer.from([0x45, 0, 0]));
    assert.equal(out.length, 0);
    const drops = stack.snapshot().drops;
    assert.equal(drops['not-for-us'], 1);
    assert.equal(drops.fragment, 1);
    assert.equal(drops.truncated, 1);
  });

  it('UDP: a bound port receives datagrams and can answer; a closed port gets ICMP port unreachable', () => {
    const { stack, out } = lone();
    stack.bindUdp(53, (payload, from, to) => stack.sendUdp(to, from, Buffer.from(`re:${payload}`)));
    stack.input(buildUdpPacket(PEER, 40000, ME, 53, Buffer.from('query')));
    const r = parseIpPacket(out[0]);
    assert.ok(r.ok);
    const d = parseUdp(r.packet.payload, r.packet.src, r.packet.dst);
    assert.ok(d.ok);
    assert.equal(d.datagram.payload.toString(), 're:query');
    assert.equal(d.datagram.dstPort, 40000);
    stack.input(buildUdpPacket(PEER, 40000, ME, 54, Buffer.from('x')));
    const icmp = parseIpPacket(out[1]);
    assert.ok(icmp.ok);
    assert.equal(icmp.packet.protocol, 1);
    assert.deepEqual([icmp.packet.payload[0], icmp.packet.payload[1]], [3, 3]);
    assert.equal(stack.snapshot().drops['udp-no-socket'], 1);
  });

  it('drops a UDP datagram with a bad checksum', () => {
    const { stack, out } = lone();
    stack.bindUdp(53, () => assert.fail('delivered'));
    const p = buildUdpPacket(PEER, 1, ME, 53, Buffer.from('q'));
    p[p.length - 1] ^= 1;
    stack.input(p);
    assert.equal(out.length, 0);
    assert.equal(stack.snapshot().drops['udp-bad-checksum'], 1);
  });

  it('drops a TCP segment with a bad checksum, and unknown protocols', () => {
    const { stack } = lone();
    const seg = Buffer.alloc(20);
    seg[12] = 5 << 4;
    stack.input(buildIpPacket({ src: PEER, dst: ME, protocol: 6 }, seg));
    stack.input(buildIpPacket({ src: PEER, dst: ME, protocol: 47 }, Buffer.alloc(4)));
    const drops = stack.snapshot().drops;
    assert.equal(drops['tcp-bad-checksum'], 1);
    assert.equal(drops['unknown-protocol'], 1);
  });

  it('on an authenticated link, does not verify received checksums again but still writes its own', () => {
    // A SYN whose TCP checksum and IPv4 header checksum are both wrong.
    const syn = Buffer.alloc(20);
    syn.writeUInt16BE(40000, 0);
    syn.writeUInt16BE(80, 2);
    syn.writeUInt32BE(1000, 4);
    syn[12] = 5 << 4;
    syn[13] = 0x02; // SYN
    syn.writeUInt16BE(65535, 14);
    const packet = buildIpPacket({ src: PEER, dst: ME, protocol: 6 }, syn);
    packet[10] ^= 0xff;
    for (const authenticated of [false, true]) {
      const { stack, out } = lone(authenticated);
      stack.listen(80, () => {});
      stack.input(Buffer.from(packet));
      stack.flush();
      if (!authenticated) {
        assert.equal(out.length, 0);
        assert.equal(stack.snapshot().drops['bad-header-checksum'], 1);
        continue;
      }
      assert.equal(out.length, 1, 'SYN-ACK');
      const ip = parseIpPacket(out[0]);
      assert.ok(ip.ok, 'our IPv4 header checksum verifies');
      const tcp = parseTcpSegment(ip.packet.payload, ip.packet.src, ip.packet.dst);
      assert.ok(tcp.ok, 'our TCP checksum verifies');
      assert.equal(tcp.segment.flags, 0x12);
      assert.equal(tcp.segment.ack, 1001);
    }
  });

  it('refuses a second listener on the same port', () => {
    const { stack } = lone();
    stack.listen(80, () => {});
    assert.throws(() => stack.listen(80, () => {}), /already listened/);
  });

  it('TCP over IPv6: MSS is MTU − 60 and a transfer arrives intact', () => {
    const a6 = parseAddress('fd00::a');
    const b6 = parseAddress('fd00::b');
    const net = new SimNetwork(8, { delayMs: 2, loss: 0.01 }, a6, b6);
    let server: Sink | null = null;
    net.b.listen(443, (c) => {
      server = new Sink(c);
    });
    const client = net.a.connect(b6, 443);
    new Sink(client);
    const data = pseudoRandomBytes(1_000_000, 8);
    pump(client, data);
    assert.ok(net.run(() => server !== null && (server as Sink).ended, 600_000));
    assert.equal(client.sendMss, 1360 - 12);
    assert.equal(sha256((server as unknown as Sink).data()), sha256(data));
  });
});
