// Many short connections, the proxy's load: TIME_WAIT held as compact records, a tick that visits
// only due timers, and ephemeral ports that never collide with a live connection and reuse a
// TIME_WAIT 4-tuple only when it is safe (Linux's tcp_tw_reuse). All on the simulated link and
// its virtual clock, against a second stack as the peer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from './ip/address.ts';
import { IPV4_HEADER_LENGTH, parseIpPacket, writeIpHeader } from './ip/packet.ts';
import { NetstackError } from './stack.ts';
import type { TcpConnection } from './tcp/connection.ts';
import {
  ACK,
  FIN,
  parseTcpSegment,
  RST,
  SYN,
  type TcpHeaderOut,
  type TcpSegment,
  tcpHeaderLength,
  writeTcpSegment,
} from './tcp/segment.ts';
import { seqGt } from './tcp/seq.ts';
import { SimNetwork } from './testing/sim-link.ts';
import { pseudoRandomBytes, pump, Sink, sha256 } from './testing/transfer.ts';

const A = parseAddress('10.7.0.1');
const B = parseAddress('10.7.0.2');
const TIME_WAIT_MS = 60_000;

/** Servers on B that answer a request with "ok" and close after the client's FIN. */
function serve(net: SimNetwork, ports: number[]): void {
  for (const port of ports) {
    net.b.listen(port, (c) => {
      c.onData = () => c.setUnread(0);
      c.onEnd = () => {
        c.write(Buffer.from('ok'));
        c.shutdownWrite();
      };
    });
  }
}

interface Run {
  opened: number;
  established: number;
  answered: number;
  closed: number;
  errors: Error[];
  /** Virtual times at which client connections entered TIME_WAIT. */
  firstTimeWait: number;
  lastTimeWait: number;
  /** Local ports of live client connections: a new one must never take one of them. */
  live: Set<number>;
  collisions: number;
  peakTimeWait: number;
}

/**
 * Opens `count` connections from A, one every `intervalMs`, round-robin over `ports`; each sends a
 * request and closes first (so A, like the proxy, holds the TIME_WAIT), reads "ok", and is done.
 */
function shortConnections(net: SimNetwork, count: number, intervalMs: number, ports: number[]): Run {
  const r: Run = {
    opened: 0,
    established: 0,
    answered: 0,
    closed: 0,
    errors: [],
    firstTimeWait: -1,
    lastTimeWait: -1,
    live: new Set(),
    collisions: 0,
    peakTimeWait: 0,
  };
  for (let i = 0; i < count; i++) {
    const c = net.a.connect(B, ports[i % ports.length]);
    r.opened++;
    if (r.live.has(c.localPort * 65536 + c.remotePort)) r.collisions++;
    const id = c.localPort * 65536 + c.remotePort;
    r.live.add(id);
    c.onEstablished = () => {
      r.established++;
      c.write(Buffer.from('GET'));
      c.shutdownWrite();
    };
    c.onData = (d) => {
      if (d.toString() === 'ok') r.answered++;
      c.setUnread(0);
    };
    c.onClose = (e) => {
      r.closed++;
      r.live.delete(id);
      if (e !== null) r.errors.push(e);
      if (c.state === 'TIME_WAIT') {
        if (r.firstTimeWait === -1) r.firstTimeWait = net.time;
        r.lastTimeWait = net.time;
      }
    };
    net.advance(intervalMs);
    if (net.a.timeWaitCount > r.peakTimeWait) r.peakTimeWait = net.a.timeWaitCount;
  }
  assert.ok(
    net.run(() => r.closed === count && net.a.connectionCount === 0 && net.b.connectionCount === 0, 10_000),
    'every connection closed on both sides',
  );
  return r;
}

describe('many short connections', () => {
  it('50,000 connections all succeed; TIME_WAIT holds records, not connections; a tick visits none of them until they expire after 2·MSL', () => {
    const net = new SimNetwork(1, { delayMs: 1 }, A, B);
    const ports = [80, 81, 82, 83];
    serve(net, ports);
    const r = shortConnections(net, 50_000, 0.5, ports); // 2,000 a second for 25 s
    assert.equal(r.established, 50_000);
    assert.equal(r.answered, 50_000);
    assert.deepEqual(r.errors, []);
    assert.equal(r.collisions, 0);

    // Compact: no connection object is left on either side, only A's 50,000 records.
    assert.equal(net.a.connectionCount, 0);
    assert.equal(net.a.timeWaitCount, 50_000);
    assert.equal(net.a.timerQueueLength, 0, 'no connection is queued for a timer');
    assert.equal(net.b.connectionCount, 0);
    assert.equal(net.b.timeWaitCount, 0, 'the passive closer holds no TIME_WAIT');
    assert.equal(net.a.snapshot().tcpTimeWait, 50_000);

    // A tick with 50,000 records and nothing due looks at nothing.
    const visits = net.a.timerStats.visits;
    for (let i = 0; i < 100; i++) net.a.tick();
    assert.equal(net.a.timerStats.visits, visits);
    assert.equal(
      net.a.nextDeadline(),
      r.firstTimeWait + TIME_WAIT_MS,
      'the next deadline is the oldest record',
    );

    // None expires before 2·MSL; all are gone by 2·MSL after the last, each visited once.
    net.advance(r.firstTimeWait + TIME_WAIT_MS - 1 - net.time);
    assert.equal(net.a.timeWaitCount, 50_000, 'none expired early');
    assert.equal(net.a.timerStats.visits, visits);
    assert.ok(net.run(() => net.a.timeWaitCount === 0, TIME_WAIT_MS));
    assert.equal(
      net.time,
      r.lastTimeWait + TIME_WAIT_MS,
      'the last record expired exactly 2·MSL after it began',
    );
    assert.equal(net.a.timerStats.visits - visits, 50_000, 'each record was visited once, when it expired');
    assert.equal(net.a.nextDeadline(), -1);
  });

  it('20,000 connections to one destination in 20 s (more than its 16,384 ports in 2·MSL) succeed by reusing TIME_WAIT 4-tuples', () => {
    const net = new SimNetwork(2, { delayMs: 1 }, A, B);
    serve(net, [80]);
    const r = shortConnections(net, 20_000, 1, [80]);
    assert.equal(r.established, 20_000);
    assert.equal(r.answered, 20_000);
    assert.deepEqual(r.errors, []);
    assert.equal(r.collisions, 0, 'no new connection took a live connection’s port');
    assert.ok(r.peakTimeWait <= 16_384);
    const s = net.a.snapshot();
    assert.ok(s.tcpTimeWaitReused >= 20_000 - 16_384, `reused ${s.tcpTimeWaitReused}`);
    assert.equal(s.tcpConnectionsFailed, 0);
    assert.equal(net.b.snapshot().tcpConnectionsFailed, 0);
  });
});

describe('ephemeral ports: reuse and exhaustion', () => {
  /** A pair whose client has 4 ephemeral ports, and a capture of what the client sends. */
  function smallRange(extra = {}) {
    const net = new SimNetwork(3, { delayMs: 1 }, A, B, { ephemeralPortRange: [50000, 50003], ...extra });
    const sent: TcpSegment[] = [];
    net.filter = (from, packet) => {
      const p = parseIpPacket(packet);
      if (from === 'a' && p.ok) {
        const t = parseTcpSegment(p.packet.payload, p.packet.src, p.packet.dst);
        if (t.ok) sent.push(t.segment);
      }
      return true;
    };
    serve(net, [80]);
    return { net, sent };
  }

  function expectExhausted(net: SimNetwork): void {
    assert.throws(
      () => net.a.connect(B, 80),
      (e: unknown) =>
        e instanceof NetstackError && e.code === 'ports-exhausted' && /10\.7\.0\.2:80/.test(e.message),
    );
  }

  it('a reused 4-tuple starts above the old incarnation: higher ISN, newer timestamps, only after 1 s of silence', () => {
    const { net, sent } = smallRange();
    shortConnections(net, 4, 1, [80]);
    assert.equal(net.a.timeWaitCount, 4);
    // The last thing each old incarnation sent: its ACK of the server's FIN.
    const lastOf = new Map<number, TcpSegment>();
    for (const s of sent) lastOf.set(s.srcPort, s);
    // Within 1 s of the peer's FIN the records may not be reused: every port is taken.
    expectExhausted(net);
    assert.equal(net.a.snapshot().drops['tcp-ports-exhausted'], 1);
    net.advance(1000);
    const before = sent.length;
    const c = net.a.connect(B, 80);
    const sink = new Sink(c);
    assert.equal(net.a.snapshot().tcpTimeWaitReused, 1);
    assert.equal(net.a.timeWaitCount, 3, 'the reused record is gone');
    const syn = sent.slice(before).find((s) => s.flags === SYN)!;
    const old = lastOf.get(syn.srcPort)!;
    assert.ok(seqGt(syn.seq, old.seq), 'ISN above the old SND.NXT');
    assert.ok(seqGt(syn.tsVal!, old.tsVal!), 'timestamp above the old incarnation’s');
    const data = pseudoRandomBytes(100_000, 3);
    pump(c, data);
    assert.ok(net.run(() => sink.closed, 10_000));
    assert.equal(sink.error, null);
    assert.equal(sink.data().toString(), 'ok', 'the peer took the new incarnation');
  });

  it('without timestamps a TIME_WAIT 4-tuple is never reused: exhaustion is a classified error until 2·MSL frees a port', () => {
    const { net } = smallRange({ tcp: { timestamps: false } });
    const r = shortConnections(net, 4, 1, [80]);
    assert.deepEqual(r.errors, []);
    net.advance(30_000);
    expectExhausted(net);
    net.advance(TIME_WAIT_MS - 30_000);
    assert.ok(net.a.timeWaitCount < 4);
    const c = net.a.connect(B, 80);
    assert.equal(c.state, 'SYN_SENT');
    assert.equal(net.a.snapshot().tcpTimeWaitReused, 0);
  });

  it('at 1 connection/ms through 4 ports, reuse keeps every connection going where waiting out 2·MSL would fail the 5th', () => {
    const { net } = smallRange();
    // 1 s of silence after each close is what reuse needs: 4 ports carry 1 connection per 250 ms.
    const r = shortConnections(net, 200, 260, [80]);
    assert.equal(r.established, 200);
    assert.deepEqual(r.errors, []);
    assert.ok(net.a.snapshot().tcpTimeWaitReused >= 196);
    const { net: plain } = smallRange({ tcp: { timestamps: false } });
    shortConnections(plain, 4, 250, [80]);
    expectExhausted(plain);
  });

  it('live connections are never shared: with all 4 ports open, the 5th connect fails at once', () => {
    const { net } = smallRange();
    const conns: TcpConnection[] = [];
    for (let i = 0; i < 4; i++) conns.push(net.a.connect(B, 80));
    assert.equal(new Set(conns.map((c) => c.localPort)).size, 4);
    expectExhausted(net);
    // Another destination port is another 4-tuple space.
    net.b.listen(81, () => {});
    assert.equal(net.a.connect(B, 81).state, 'SYN_SENT');
  });
});

describe('new incarnations of a 4-tuple the peer holds in TIME_WAIT', () => {
  it('when the server closes first, the client’s next connection from the same port is taken as a new incarnation, above the old one (RFC 6191)', () => {
    // One ephemeral port: every connection is the same 4-tuple.
    const net = new SimNetwork(6, { delayMs: 1 }, A, B, { ephemeralPortRange: [50000, 50000] });
    const fromB: TcpSegment[] = [];
    net.filter = (from, packet) => {
      const p = parseIpPacket(packet);
      if (from === 'b' && p.ok) {
        const t = parseTcpSegment(p.packet.payload, p.packet.src, p.packet.dst);
        if (t.ok) fromB.push(t.segment);
      }
      return true;
    };
    net.b.listen(80, (c) => {
      c.write(Buffer.from('ok'));
      c.shutdownWrite(); // the server closes first: B holds the TIME_WAIT
    });
    for (let i = 0; i < 20; i++) {
      const c = net.a.connect(B, 80);
      const sink = new Sink(c);
      c.onEnd = () => c.shutdownWrite();
      assert.ok(
        net.run(() => sink.closed && net.a.connectionCount === 0, 10_000),
        `connection ${i}`,
      );
      assert.equal(sink.error, null);
      assert.equal(sink.data().toString(), 'ok');
      assert.equal(c.localPort, 50000);
      assert.equal(net.b.timeWaitCount, 1, 'B holds the 4-tuple in TIME_WAIT');
      assert.equal(net.a.timeWaitCount, 0);
      net.advance(10);
    }
    // Each SYN-ACK started above the previous incarnation's sequence space.
    const synAcks = fromB.filter((s) => s.flags === (SYN | ACK));
    assert.equal(synAcks.length, 20);
    for (let i = 1; i < synAcks.length; i++) {
      const lastOfPrevious = fromB.slice(0, fromB.indexOf(synAcks[i])).at(-1)!;
      assert.ok(seqGt(synAcks[i].seq, lastOfPrevious.seq + 65536), `incarnation ${i}`);
    }
  });
});

describe('TIME_WAIT records answer for the connection', () => {
  function timeWait() {
    const net = new SimNetwork(4, { delayMs: 1 }, A, B);
    const seen: { from: 'a' | 'b'; seg: TcpSegment }[] = [];
    net.filter = (from, packet) => {
      const p = parseIpPacket(packet);
      if (p.ok) {
        const t = parseTcpSegment(p.packet.payload, p.packet.src, p.packet.dst);
        if (t.ok) seen.push({ from, seg: t.segment });
      }
      return true;
    };
    serve(net, [80]);
    const r = shortConnections(net, 1, 1, [80]);
    assert.equal(net.a.timeWaitCount, 1);
    const finOfB = seen.filter((s) => s.from === 'b' && s.seg.flags & FIN).at(-1)!.seg;
    const lastAck = seen.filter((s) => s.from === 'a').at(-1)!.seg;
    const inject = (flags: number, seq: number, tsVal: number | undefined, payload = Buffer.alloc(0)) => {
      const before = seen.length;
      const h = {
        srcPort: 80,
        dstPort: lastAck.srcPort,
        seq,
        ack: lastAck.seq,
        flags,
        window: 1000,
        tsVal,
        tsEcr: tsVal === undefined ? undefined : lastAck.tsVal,
      };
      injectFromB(net, h, payload);
      return seen.slice(before).filter((s) => s.from === 'a');
    };
    return { net, r, finOfB, lastAck, inject };
  }

  it('a retransmitted FIN is re-ACKed with the old sequence numbers and restarts 2·MSL (RFC 9293 §3.10.7.4)', () => {
    const { net, r, finOfB, lastAck, inject } = timeWait();
    net.advance(30_000);
    // The FIN alone again (seq = RCV.NXT − 1), as if our ACK had been lost.
    const answers = inject(FIN | ACK, lastAck.ack - 1, finOfB.tsVal! + 30_000);
    assert.equal(answers.length, 1);
    const a = answers[0].seg;
    assert.equal(a.flags, ACK);
    assert.equal(a.seq, lastAck.seq);
    assert.equal(a.ack, lastAck.ack);
    assert.equal(a.tsEcr, finOfB.tsVal! + 30_000, 'echoes the FIN’s timestamp');
    assert.ok(seqGt(a.tsVal!, lastAck.tsVal!), 'our clock continues');
    const restarted = net.time;
    assert.ok(net.run(() => net.a.timeWaitCount === 0, 2 * TIME_WAIT_MS));
    assert.ok(net.time >= restarted + TIME_WAIT_MS, 'lasted 2·MSL from the retransmitted FIN');
    assert.ok(net.time > r.lastTimeWait + TIME_WAIT_MS);
  });

  it('a bare duplicate ACK and a RST get no answer and do not end it (RFC 1337); data and an old SYN get an ACK', () => {
    const { net, finOfB, lastAck, inject } = timeWait();
    const rcvNxt = lastAck.ack;
    const ts = finOfB.tsVal! + 1;
    assert.equal(inject(ACK, rcvNxt, ts).length, 0, 'duplicate ACK: silence');
    assert.equal(inject(RST, rcvNxt, undefined).length, 0, 'RST: silence');
    assert.equal(net.a.timeWaitCount, 1, 'RST did not end TIME_WAIT');
    assert.equal(inject(ACK, rcvNxt, ts, Buffer.from('late')).length, 1, 'data: ACK');
    assert.equal(inject(ACK | FIN, rcvNxt, finOfB.tsVal! - 1).length, 1, 'PAWS: ACK');
    // A SYN with an older timestamp may be an old duplicate: ACK, keep the record.
    const synAnswer = inject(SYN, rcvNxt + 100_000, finOfB.tsVal! - 1);
    assert.equal(synAnswer.length, 1);
    assert.equal(synAnswer[0].seg.flags, ACK);
    assert.equal(net.a.timeWaitCount, 1);
  });
});

describe('timer queue', () => {
  it('every live connection is queued for exactly its next deadline, through 20 transfers at 2 % loss', () => {
    const net = new SimNetwork(5, { delayMs: 3, loss: 0.02, bandwidth: 5000, queueMs: 30 }, A, B);
    const servers: Sink[] = [];
    net.b.listen(80, (c) => {
      servers.push(new Sink(c));
    });
    const data = pseudoRandomBytes(200_000, 5);
    const clients: Sink[] = [];
    for (let i = 0; i < 20; i++) {
      const c = net.a.connect(B, 80);
      clients.push(new Sink(c));
      pump(c, data);
    }
    let checks = 0;
    const consistent = (): void => {
      for (const stack of [net.a, net.b]) {
        for (const c of stack.connections()) {
          const d = c.nextDeadline();
          checks++;
          if (d === -1) assert.equal(c.heapIndex, -1, `${c.state}: no deadline, not queued`);
          else assert.equal(c.heapKey, d, `${c.state}: queued for its deadline`);
        }
      }
    };
    const done = net.run(() => {
      consistent();
      return servers.length === 20 && servers.every((s) => s.ended);
    }, 600_000);
    assert.ok(done);
    for (const s of servers) assert.equal(sha256(s.data()), sha256(data));
    assert.ok(checks > 10_000);
    assert.ok(net.a.snapshot().tcpRetransmits > 0, 'losses were repaired by timers and ACKs');
  });
});

/** A crafted segment from B to A, delivered at once. */
function injectFromB(net: SimNetwork, h: TcpHeaderOut, payload: Buffer): void {
  const tl = tcpHeaderLength(h);
  const buf = Buffer.alloc(IPV4_HEADER_LENGTH + tl + payload.length);
  writeIpHeader(buf, { src: B, dst: A, protocol: 6, payloadLength: tl + payload.length });
  writeTcpSegment(buf, IPV4_HEADER_LENGTH, h, payload.length > 0 ? payload : null, B, A);
  net.a.input(buf);
  net.a.flush();
}
