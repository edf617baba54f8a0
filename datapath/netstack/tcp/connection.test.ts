// RFC corner cases of the TCP connection, one named test each, on the seeded simulated link.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../ip/address.ts';
import { IPV4_HEADER_LENGTH, parseIpPacket, writeIpHeader } from '../ip/packet.ts';
import { SimNetwork } from '../testing/sim-link.ts';
import { pseudoRandomBytes, pump, Sink, sha256 } from '../testing/transfer.ts';
import type { TcpConnection } from './connection.ts';
import {
  ACK,
  FIN,
  PSH,
  parseTcpSegment,
  RST,
  SYN,
  type TcpHeaderOut,
  type TcpSegment,
  tcpHeaderLength,
  writeTcpSegment,
} from './segment.ts';
import { seqAdd } from './seq.ts';

const A = parseAddress('10.9.0.1');
const B = parseAddress('10.9.0.2');

interface Seen {
  from: 'a' | 'b';
  at: number;
  seg: TcpSegment;
  length: number;
}

/** A network with a server on B:80 and a capture of every TCP segment either side sends. */
function setup(seed = 1, link = {}, extra = {}) {
  const net = new SimNetwork(seed, { delayMs: 5, ...link }, A, B, extra);
  const seen: Seen[] = [];
  net.filter = (from, packet) => {
    const p = parseIpPacket(packet);
    if (p.ok && p.packet.protocol === 6) {
      const t = parseTcpSegment(p.packet.payload, p.packet.src, p.packet.dst);
      if (t.ok) seen.push({ from, at: net.time, seg: t.segment, length: packet.length });
    }
    return true;
  };
  const servers: Sink[] = [];
  net.b.listen(80, (c) => {
    servers.push(new Sink(c));
  });
  return { net, seen, servers };
}

function established(seed = 1, link = {}, extra = {}) {
  const s = setup(seed, link, extra);
  const client = s.net.a.connect(B, 80);
  const clientSink = new Sink(client);
  assert.ok(
    s.net.run(() => s.servers.length === 1 && client.state === 'ESTABLISHED', 5000),
    'handshake',
  );
  return { ...s, client, clientSink, server: s.servers[0] };
}

/** Injects a crafted segment from `from` into the other stack. */
function inject(net: SimNetwork, from: 'a' | 'b', h: TcpHeaderOut, payload: Buffer | null = null): void {
  const src = from === 'a' ? A : B;
  const dst = from === 'a' ? B : A;
  const tl = tcpHeaderLength(h);
  const buf = Buffer.alloc(IPV4_HEADER_LENGTH + tl + (payload?.length ?? 0));
  writeIpHeader(buf, { src, dst, protocol: 6, payloadLength: tl + (payload?.length ?? 0) });
  writeTcpSegment(buf, IPV4_HEADER_LENGTH, h, payload, src, dst);
  (from === 'a' ? net.b : net.a).input(buf);
  net.a.flush();
  net.b.flush();
}

/** The sequence numbers a connection is at (test-only view of private state). */
function seqs(c: TcpConnection): { sndNxt: number; rcvNxt: number; sndUna: number } {
  const x = c as unknown as { sndNxt: number; rcvNxt: number; sndUna: number };
  return { sndNxt: x.sndNxt, rcvNxt: x.rcvNxt, sndUna: x.sndUna };
}

describe('TCP connection: opening', () => {
  it('three-way handshake negotiates MSS, window scaling, timestamps and SACK', () => {
    const { seen, client, server } = established();
    const syn = seen.find((s) => s.from === 'a' && s.seg.flags === SYN)!;
    const synAck = seen.find((s) => s.from === 'b' && s.seg.flags === (SYN | ACK))!;
    for (const s of [syn.seg, synAck.seg]) {
      assert.equal(s.mss, 1380, 'MSS = 1420 tunnel MTU − 40');
      assert.ok(s.wscale !== undefined && s.sackPermitted && s.tsVal !== undefined);
    }
    assert.equal(synAck.seg.ack, seqAdd(syn.seg.seq, 1));
    assert.equal(synAck.seg.tsEcr, syn.seg.tsVal, 'SYN-ACK echoes the SYN timestamp');
    assert.equal(client.sendMss, 1380 - 12, 'effective MSS net of the timestamp option');
    assert.equal(server.conn.state, 'ESTABLISHED');
  });

  it('without options from the peer: MSS 536, no scaling, no timestamps (RFC 9293 §3.7.1)', () => {
    const { net, seen } = setup();
    const client = net.a.connect(B, 80);
    net.run(() => seen.some((s) => s.from === 'a' && s.seg.flags === SYN), 100);
    const syn = seen.find((s) => s.from === 'a')!.seg;
    // Answer the client's SYN ourselves, without any option.
    net.filter = () => false; // the real server's answer is dropped
    inject(net, 'b', {
      srcPort: 80,
      dstPort: syn.srcPort,
      seq: 5000,
      ack: seqAdd(syn.seq, 1),
      flags: SYN | ACK,
      window: 8192,
    });
    assert.equal(client.state, 'ESTABLISHED');
    assert.equal(client.sendMss, 536);
  });

  it('initial sequence numbers differ per connection and are not predictable from the 4-tuple alone (RFC 6528)', () => {
    const { net, seen } = setup();
    net.a.connect(B, 80);
    net.a.connect(B, 80);
    net.run(() => seen.filter((s) => s.seg.flags === SYN).length >= 2, 100);
    const [x, y] = seen.filter((s) => s.seg.flags === SYN).map((s) => s.seg.seq);
    assert.notEqual(x, y);
  });

  it('a SYN to a closed port is answered with RST|ACK; connect() fails with refused', () => {
    const { net, seen } = setup();
    const c = net.a.connect(B, 81);
    const sink = new Sink(c);
    net.run(() => sink.closed, 1000);
    assert.equal(sink.error?.name, 'TcpError');
    assert.equal((sink.error as { code?: string }).code, 'refused');
    const rst = seen.find((s) => s.from === 'b')!.seg;
    assert.equal(rst.flags, RST | ACK);
    assert.equal(net.b.snapshot().tcpResetsSent, 1);
  });

  it('SYN retransmits back off exponentially and give up with timeout', () => {
    const { net, seen } = setup(1, { loss: 1 });
    const c = net.a.connect(B, 80);
    const sink = new Sink(c);
    net.run(() => sink.closed, 120_000);
    assert.equal((sink.error as { code?: string }).code, 'timeout');
    const times = seen.filter((s) => s.from === 'a' && s.seg.flags === SYN).map((s) => s.at);
    assert.equal(times.length, 6, 'first SYN + 5 retries');
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.deepEqual(gaps, [1000, 2000, 4000, 8000, 16000]);
  });
});

describe('TCP connection: data transfer', () => {
  it('segments never exceed the tunnel MTU (MSS clamp; we never fragment)', () => {
    const { net, seen, client, server } = established();
    pump(client, pseudoRandomBytes(300_000, 1));
    net.run(() => server.ended, 60_000);
    assert.ok(seen.length > 200);
    assert.ok(Math.max(...seen.map((s) => s.length)) <= 1420);
    assert.ok(
      seen.some((s) => s.length === 1420),
      'full-sized segments fill the MTU exactly',
    );
  });

  it('duplication and reordering: the data arrives intact and in order', () => {
    const { net, client, server } = established(5, { duplicate: 0.05, reorder: 0.1, reorderDelayMs: 3 });
    const data = pseudoRandomBytes(2_000_000, 5);
    pump(client, data);
    assert.ok(net.run(() => server.ended, 600_000));
    assert.equal(sha256(server.data()), sha256(data));
  });

  it('sequence numbers wrap around 2^32 in the middle of a transfer', () => {
    const { net, client, server } = established(9, {}, { isn: () => 0xffffffff - 100_000 });
    const data = pseudoRandomBytes(1_000_000, 9);
    pump(client, data);
    assert.ok(net.run(() => server.ended, 600_000));
    assert.equal(sha256(server.data()), sha256(data));
    assert.ok(seqs(client).sndUna < 1_000_000, 'the send sequence wrapped past zero');
  });

  it('sequence wrap-around with 5 % loss: recovery across the wrap', () => {
    const { net, client, server } = established(11, { loss: 0.05 }, { isn: () => 0xffffffff - 50_000 });
    const data = pseudoRandomBytes(500_000, 11);
    pump(client, data);
    assert.ok(net.run(() => server.ended, 600_000));
    assert.equal(sha256(server.data()), sha256(data));
  });

  it('one lost segment is repaired by fast retransmit, not by a timeout (RFC 5681 §3.2)', () => {
    const { net, client, server } = established(2, { bandwidth: 10_000 });
    let dropped = false;
    const inner = net.filter!;
    net.filter = (from, p) => {
      inner(from, p);
      if (!dropped && from === 'a' && p.length === 1420 && client.counters.segmentsSent > 40) {
        dropped = true;
        return false;
      }
      return true;
    };
    pump(client, pseudoRandomBytes(500_000, 2));
    assert.ok(net.run(() => server.ended, 60_000));
    assert.ok(dropped);
    assert.equal(client.counters.fastRetransmits, 1);
    assert.equal(client.counters.timeouts, 0);
  });

  it('a lost tail is repaired by a tail loss probe, not by the retransmission timer (RFC 8985 §7)', () => {
    const { net, client, server } = established(2);
    const data = pseudoRandomBytes(20 * 1368, 3);
    let dropped = 0;
    const inner = net.filter!;
    net.filter = (from, p) => {
      inner(from, p);
      // Lose the last two data segments of the burst (and nothing else).
      if (
        from === 'a' &&
        p.length > 100 &&
        client.counters.bytesSent >= data.length - 2 * 1368 &&
        dropped < 2
      ) {
        dropped++;
        return false;
      }
      return true;
    };
    pump(client, data, data.length, false);
    assert.ok(net.run(() => server.bytes === data.length, 10_000));
    assert.equal(dropped, 2);
    assert.ok(client.counters.tailLossProbes >= 1, 'a probe was sent');
    assert.equal(client.counters.timeouts, 0, 'no retransmission timeout');
  });

  it('a lost retransmission is found by SACK and resent before the timer fires', () => {
    const { net, client, server } = established(6, { bandwidth: 10_000 });
    const data = pseudoRandomBytes(400_000, 6);
    let firstLost = -1;
    let lostAgain = false;
    const inner = net.filter!;
    net.filter = (from, p) => {
      inner(from, p);
      if (from !== 'a' || p.length !== 1420) return true;
      const seq = p.readUInt32BE(24);
      if (firstLost === -1 && client.counters.segmentsSent > 60) {
        firstLost = seq;
        return false;
      }
      if (seq === firstLost && !lostAgain) {
        lostAgain = true; // its fast retransmission is lost as well
        return false;
      }
      return true;
    };
    pump(client, data);
    assert.ok(net.run(() => server.ended, 60_000));
    assert.ok(lostAgain);
    assert.equal(sha256(server.data()), sha256(data));
    assert.ok(client.counters.lostRetransmits >= 1, 'the second loss was detected from SACKs');
    assert.equal(client.counters.timeouts, 0);
  });

  it('delayed ACK: a lone small segment is acknowledged after the delay, not at once', () => {
    const { net, seen, client } = established();
    const start = seen.length;
    client.write(Buffer.from('x'));
    // No PSH-triggered quick ACK here: a 1-byte write that completes the queue carries PSH, which we ACK at
    // once, so send a segment without PSH by crafting it.
    net.advance(20);
    const dataSeg = seen.find((s, i) => i >= start && s.from === 'a' && s.seg.payload.length === 1)!;
    const ack = seen.find((s, i) => i >= start && s.from === 'b')!;
    assert.ok(dataSeg && ack);
    assert.ok(ack.at - dataSeg.at <= 6, 'PSH segments are acknowledged at once (5 ms link delay)');
    // Now a segment without PSH from B's point of view: inject it.
    const { sndNxt, rcvNxt } = seqs(client);
    const before = seen.length;
    inject(
      net,
      'a',
      { srcPort: client.localPort, dstPort: 80, seq: sndNxt, ack: rcvNxt, flags: ACK, window: 1000 },
      Buffer.from('y'),
    );
    const injectedAt = net.time;
    net.run(() => seen.slice(before).some((s) => s.from === 'b'), 1000);
    const delayed = seen.slice(before).find((s) => s.from === 'b')!;
    assert.ok(
      delayed.at - injectedAt >= 40,
      `ACK delayed by the delayed-ACK timer (${delayed.at - injectedAt} ms)`,
    );
  });

  it('stretch ACKs (ackStretch): one ACK per burst of in-order segments, sent by the first flush that finds nothing new; PSH is acknowledged at once', () => {
    // Each inject() is one batch: input, then a flush of both stacks (what an event-loop turn does).
    const acksFromB = (seen: Seen[], from: number) => seen.slice(from).filter((s) => s.from === 'b').length;
    const burst = (stretch: number, segments: number, lastFlags = ACK) => {
      const { net, seen, client } = established(1, {}, { tcp: { ackStretch: stretch } });
      const { sndNxt: first, rcvNxt } = seqs(client);
      // A first segment opens B's window from the handshake's unscaled 64 KiB to its 1 MiB buffer
      // (that window update is an ACK of its own): the bursts below start from the steady state.
      inject(
        net,
        'a',
        { srcPort: client.localPort, dstPort: 80, seq: first, ack: rcvNxt, flags: ACK | PSH, window: 1000 },
        Buffer.alloc(1000),
      );
      net.b.flush();
      const sndNxt = seqAdd(first, 1000);
      const start = seen.length;
      const perTurn: number[] = [];
      for (let i = 0; i < segments; i++) {
        const before = seen.length;
        const flags = i === segments - 1 ? lastFlags : ACK;
        const h = {
          srcPort: client.localPort,
          dstPort: 80,
          seq: seqAdd(sndNxt, i * 1000),
          ack: rcvNxt,
          flags,
          window: 1000,
        };
        inject(net, 'a', h, Buffer.alloc(1000, i));
        perTurn.push(acksFromB(seen, before));
      }
      const beforeQuiet = seen.length;
      net.b.flush(); // a batch that brings nothing for the connection
      return {
        during: acksFromB(seen, start) - acksFromB(seen, beforeQuiet),
        quiet: acksFromB(seen, beforeQuiet),
        perTurn,
        seen,
        start,
        end: seqAdd(sndNxt, segments * 1000),
      };
    };
    // Without stretching: an ACK for every second segment.
    assert.equal(burst(0, 10).during, 5);
    // With it: none while segments keep coming, one when a batch brings nothing new, and it covers all.
    const s = burst(16, 10);
    assert.equal(s.during, 0);
    assert.equal(s.quiet, 1);
    const ack = s.seen
      .slice(s.start)
      .filter((x) => x.from === 'b')
      .at(-1)!;
    assert.equal(ack.seg.ack, s.end, 'the one ACK acknowledges the whole burst');
    // At most ackStretch segments per ACK while data keeps arriving.
    const long = burst(16, 40);
    assert.ok(long.during >= 2 && long.during <= 3, `${long.during} ACKs for 40 segments`);
    // PSH (the end of what the peer wrote) is acknowledged in the batch it arrives in.
    const psh = burst(16, 6, ACK | PSH);
    assert.equal(psh.perTurn.at(-1), 1);
    assert.equal(psh.quiet, 0);
  });

  it('with stretch ACKs transfers stay intact: 0 % and 5 % loss, and a receiver that stalls and resumes', () => {
    for (const loss of [0, 0.05]) {
      const { net, client, server } = established(
        5,
        { loss },
        { tcp: { ackStretch: 16, rcvBuffer: 64 * 1024 } },
      );
      const data = pseudoRandomBytes(2_000_000, 5);
      pump(client, data);
      server.stalled = true;
      net.run(() => server.conn.advertisedWindow === 0, 120_000);
      assert.ok(server.bytes <= 64 * 1024, 'the stalled reader closed the window');
      server.resume();
      assert.ok(
        net.run(() => server.ended, 600_000),
        `transfer completes at ${loss * 100} % loss`,
      );
      assert.equal(sha256(server.data()), sha256(data));
    }
  });

  it('a stalled receiver closes the window; the sender probes it and resumes when it reopens', () => {
    const { net, seen, client, server } = established(4, {}, { tcp: { rcvBuffer: 64 * 1024 } });
    server.stalled = true;
    const data = pseudoRandomBytes(400_000, 4);
    pump(client, data);
    net.run(() => server.conn.advertisedWindow === 0 && client.counters.probes >= 3, 120_000);
    assert.equal(server.conn.advertisedWindow, 0);
    assert.ok(client.counters.probes >= 3, 'zero-window probes were sent');
    assert.ok(server.bytes <= 64 * 1024);
    // The reader resumes, but its window update is lost: only a probe can discover the open window.
    const inner = net.filter!;
    let dropUpdates = true;
    net.filter = (from, p) => inner(from, p) && !(dropUpdates && from === 'b');
    server.resume();
    net.advance(50); // the update and any answer to a probe already in flight are lost
    dropUpdates = false;
    const probesBefore = client.counters.probes;
    assert.ok(net.run(() => server.ended, 600_000));
    assert.ok(client.counters.probes > probesBefore, 'a probe found the reopened window');
    assert.equal(sha256(server.data()), sha256(data));
    const probeSegs = seen.filter((s) => s.from === 'a' && s.seg.payload.length === 0 && s.seg.flags === ACK);
    assert.ok(probeSegs.length > 0);
  });
});

describe('TCP connection: closing and resets', () => {
  it('half-close: after our FIN the peer can still send; both sides then close', () => {
    const { net, client, clientSink, server } = established();
    client.write(Buffer.from('request'));
    client.shutdownWrite();
    net.run(() => server.ended && client.state === 'FIN_WAIT_2', 1000);
    assert.equal(server.data().toString(), 'request');
    assert.equal(client.state, 'FIN_WAIT_2');
    assert.equal(server.conn.state, 'CLOSE_WAIT');
    server.conn.write(Buffer.from('response after your FIN'));
    server.conn.shutdownWrite();
    net.run(() => clientSink.ended, 1000);
    assert.equal(clientSink.data().toString(), 'response after your FIN');
    assert.equal(client.state, 'TIME_WAIT');
    net.run(() => server.conn.state === 'CLOSED', 1000);
    assert.equal(server.error, null);
    assert.equal(clientSink.closed, true, 'the active closer reports close on entering TIME_WAIT');
  });

  it('TIME_WAIT lasts 2·MSL, re-ACKs a retransmitted FIN, ignores RST (RFC 1337), then frees the connection', () => {
    const { net, seen, client, server } = established();
    client.shutdownWrite();
    net.run(() => server.ended, 1000);
    server.conn.shutdownWrite();
    net.run(() => client.state === 'TIME_WAIT', 1000);
    const entered = net.time;
    // The stack holds the 4-tuple as a compact record, not the connection (tcp/time-wait.ts).
    assert.equal(net.a.timeWaitCount, 1);
    assert.equal(net.a.connectionCount, 0);
    // The server's FIN again (as if our ACK had been lost).
    const { rcvNxt, sndNxt } = seqs(client);
    const before = seen.length;
    inject(net, 'b', {
      srcPort: 80,
      dstPort: client.localPort,
      seq: seqAdd(rcvNxt, -1),
      ack: sndNxt,
      flags: FIN | ACK,
      window: 1000,
    });
    net.advance(5);
    assert.ok(
      seen.slice(before).some((s) => s.from === 'a' && s.seg.flags === ACK),
      'FIN re-acknowledged',
    );
    // An exact RST does not end TIME_WAIT (RFC 1337).
    inject(net, 'b', { srcPort: 80, dstPort: client.localPort, seq: rcvNxt, ack: 0, flags: RST, window: 0 });
    assert.equal(net.a.timeWaitCount, 1, 'RST ignored');
    assert.ok(net.run(() => net.a.timeWaitCount === 0, 200_000));
    assert.ok(net.time - entered >= 60_000, '2·MSL = 60 s');
    assert.equal(net.a.connectionCount, 0);
  });

  it('a new SYN on a 4-tuple in TIME_WAIT opens a new connection when it cannot be an old duplicate (RFC 6191)', () => {
    const { net, seen, client, servers } = established();
    const server = servers[0];
    // The server closes first, so the server side sits in TIME_WAIT.
    server.conn.shutdownWrite();
    net.run(() => client.state === 'CLOSE_WAIT', 1000);
    client.shutdownWrite();
    net.run(() => server.conn.state === 'TIME_WAIT' && client.state === 'CLOSED', 1000);
    const { sndNxt } = seqs(client);
    const before = seen.length;
    // The client's kernel reuses the port: a SYN with a newer timestamp and a higher sequence number.
    inject(net, 'a', {
      srcPort: client.localPort,
      dstPort: 80,
      seq: seqAdd(sndNxt, 100_000),
      ack: 0,
      flags: SYN,
      window: 65535,
      mss: 1380,
      tsVal: (client as unknown as { tsNow(): number }).tsNow() + 1000,
      tsEcr: 0,
    });
    assert.equal(net.b.timeWaitCount, 0, 'the old incarnation is gone');
    const answer = seen.slice(before).find((s) => s.from === 'b')!;
    assert.equal(answer.seg.flags, SYN | ACK, 'the listener answered the new SYN');
  });

  it('abort() sends RST; the peer fails with reset', () => {
    const { net, seen, client, server } = established();
    client.abort();
    net.run(() => server.closed, 1000);
    assert.equal((server.error as { code?: string }).code, 'reset');
    assert.ok(seen.some((s) => s.from === 'a' && s.seg.flags & RST));
    assert.equal(client.state, 'CLOSED');
  });

  it('an RST with an in-window but inexact sequence draws a challenge ACK and is ignored (RFC 5961 §3)', () => {
    const { net, seen, client } = established();
    const { rcvNxt } = seqs(client);
    const before = seen.length;
    inject(net, 'b', {
      srcPort: 80,
      dstPort: client.localPort,
      seq: seqAdd(rcvNxt, 100),
      ack: 0,
      flags: RST,
      window: 0,
    });
    assert.equal(client.state, 'ESTABLISHED');
    net.advance(2);
    assert.ok(
      seen.slice(before).some((s) => s.from === 'a' && s.seg.flags === ACK),
      'challenge ACK',
    );
    inject(net, 'b', { srcPort: 80, dstPort: client.localPort, seq: rcvNxt, ack: 0, flags: RST, window: 0 });
    assert.equal(client.state, 'CLOSED', 'an exact RST resets');
  });

  it('an RST outside the window is dropped silently', () => {
    const { net, seen, client } = established();
    const { rcvNxt } = seqs(client);
    const before = seen.length;
    inject(net, 'b', {
      srcPort: 80,
      dstPort: client.localPort,
      seq: seqAdd(rcvNxt, -5000),
      ack: 0,
      flags: RST,
      window: 0,
    });
    net.advance(2);
    assert.equal(client.state, 'ESTABLISHED');
    assert.equal(seen.length, before);
  });

  it('a SYN on an established connection draws a challenge ACK, never a reset (RFC 5961 §4)', () => {
    const { net, seen, client } = established();
    const before = seen.length;
    inject(net, 'b', {
      srcPort: 80,
      dstPort: client.localPort,
      seq: 12345,
      ack: 0,
      flags: SYN,
      window: 1000,
    });
    net.advance(2);
    assert.equal(client.state, 'ESTABLISHED');
    assert.ok(seen.slice(before).some((s) => s.from === 'a' && s.seg.flags === ACK));
  });

  it('a segment for no connection gets RST with the sequence it acknowledged (RFC 9293 §3.10.7.1)', () => {
    const { net, seen } = setup();
    inject(
      net,
      'a',
      { srcPort: 40000, dstPort: 80, seq: 77, ack: 999, flags: ACK, window: 1000 },
      Buffer.from('late'),
    );
    const rst = seen.find((s) => s.from === 'b')!.seg;
    assert.equal(rst.flags, RST);
    assert.equal(rst.seq, 999);
    assert.equal(net.b.snapshot().drops['tcp-no-socket'], 1);
  });

  it('PAWS: an old duplicate with an older timestamp is dropped, not delivered (RFC 7323 §5)', () => {
    const { net, client, server } = established();
    client.write(Buffer.from('fresh'));
    net.run(() => server.bytes === 5, 1000);
    const { sndNxt, rcvNxt } = seqs(client);
    const tsRecent = (server.conn as unknown as { tsRecent: number }).tsRecent;
    inject(
      net,
      'a',
      {
        srcPort: client.localPort,
        dstPort: 80,
        seq: sndNxt,
        ack: rcvNxt,
        flags: ACK,
        window: 1000,
        tsVal: (tsRecent - 1000) >>> 0,
        tsEcr: 0,
      },
      Buffer.from('stale'),
    );
    net.advance(50);
    assert.equal(server.data().toString(), 'fresh');
  });

  it('retransmission limit: a peer that vanishes is reset after exponential back-off (RFC 6298 §5)', () => {
    const { net, seen, client } = established();
    net.aToB.loss = 1;
    net.bToA.loss = 1;
    client.write(Buffer.alloc(1000, 1));
    net.run(() => client.state === 'CLOSED', 3_600_000);
    assert.equal(client.error?.code, 'timeout');
    const sends = seen.filter((s) => s.from === 'a' && s.seg.payload.length === 1000).map((s) => s.at);
    assert.equal(sends.length, 12, 'first send + one tail loss probe + 10 retries');
    assert.equal(client.counters.tailLossProbes, 1);
    const rex = [sends[0], ...sends.slice(2)]; // the timer-driven sends
    const gaps = rex.slice(1).map((t, i) => t - rex[i]);
    for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] >= gaps[i - 1], 'the interval never shrinks');
    assert.ok(gaps[3] >= 2 * gaps[2] - 1 || gaps[3] === 60_000, 'it doubles');
    assert.ok(
      seen.some((s) => s.from === 'a' && s.seg.flags & RST),
      'the peer is told with RST',
    );
  });

  it('keepalive: an idle connection to a vanished peer fails with keepalive-timeout', () => {
    const ka = { idleMs: 10_000, intervalMs: 1_000, probes: 3 };
    const { net, client } = established(1, {}, { tcp: { keepalive: ka } });
    net.advance(15_000);
    assert.equal(client.state, 'ESTABLISHED', 'a live peer answers the probes');
    assert.ok(client.counters.probes >= 1);
    net.aToB.loss = 1;
    net.bToA.loss = 1;
    net.run(() => client.state === 'CLOSED', 60_000);
    assert.equal(client.error?.code, 'keepalive-timeout');
  });
});
