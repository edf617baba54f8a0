// The stack: one object that owns the local addresses, takes whole IP packets in (`input`), hands
// whole IP packets out (`output`), and demultiplexes to TCP connections, TCP listeners and UDP ports.
// Sans-IO: the clock and the randomness are injected, and the owner drives it — `flush()` after a batch
// of input or application writes (the stack asks for it through `onDirty`), `tick()` for timers.
// It answers ICMP echo for its addresses, RST for closed TCP ports, ICMP port unreachable for closed
// UDP ports, and counts every drop by reason.
import { echoReplyFor } from './icmp/echo.ts';
import { portUnreachableFor } from './icmp/unreachable.ts';
import { addressEquals, formatAddress } from './ip/address.ts';
import {
  type IpPacket,
  ipHeaderLength,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  parseIpPacket,
  writeIpHeader,
} from './ip/packet.ts';
import { DEFAULT_TCP_CONFIG, type TcpConfig, TcpConnection, type TcpHost } from './tcp/connection.ts';
import { DeadlineHeap } from './tcp/deadline-heap.ts';
import { ephemeralPortOffset, initialSequenceNumber, timestampOffset } from './tcp/isn.ts';
import {
  ACK,
  parseTcpSegment,
  RST,
  SYN,
  type TcpHeaderOut,
  type TcpSegment,
  tcpHeaderLength,
  writeTcpSegment,
} from './tcp/segment.ts';
import {
  canReuseForConnect,
  reuseIss,
  type TimeWaitRecord,
  TimeWaitTable,
  timeWaitInput,
} from './tcp/time-wait.ts';
import { buildUdpPacket, parseUdp } from './udp/datagram.ts';

export interface NetstackOptions {
  /** Our addresses (4 or 16 bytes each). Packets to other addresses are dropped ('not-for-us'). */
  addresses: Uint8Array[];
  /**
   * Every packet the stack sends, a whole IP packet; the stack does not touch it afterwards —
   * unless `outputCopies` is set.
   */
  output: (packet: Buffer) => void;
  /**
   * `output` is done with a packet when it returns (it copies what it keeps, as the WireGuard device
   * does when it encrypts). The stack then builds TCP segments in one reused buffer instead of
   * allocating one per packet (garbage that was ~6 % of an upload's CPU profile).
   */
  outputCopies?: boolean;
  /** Milliseconds, monotonic. */
  now: () => number;
  /** Cryptographic randomness: the stack's secret key (ISNs, timestamp offsets, ephemeral ports). */
  randomBytes: (n: number) => Buffer;
  /** Link MTU (the tunnel's); TCP's MSS is derived from it. Default 1420 (WireGuard). */
  mtu?: number;
  tcp?: Partial<TcpConfig>;
  /** The stack wants `flush()` soon (the runtime schedules it after the current I/O turn). */
  onDirty?: () => void;
  /** Half-open connections per listener beyond which new SYNs are dropped. */
  backlog?: number;
  /**
   * Intercept mode (gVisor mode, datapath/gvisor/): the stack is the whole network of the agent
   * behind a TUN device, so it takes TCP for every destination; `listenAll` accepts it with the
   * original destination as the connection's local address. ICMP echo is still only answered for
   * our own addresses (the agent must not see every host as up).
   */
  interceptAll?: boolean;
  /**
   * Every packet `input` gets was authenticated by the link — WireGuard delivers only packets whose
   * AEAD tag verified, so a corrupted byte never reaches us — and the IP, TCP and UDP checksums are
   * not verified again (summing every received segment was ~3 % of a download's CPU profile). Linux's
   * WireGuard marks its decrypted packets CHECKSUM_UNNECESSARY for the same reason. The checksums of
   * what we send are always computed: the peer's stack checks them.
   */
  linkAuthenticated?: boolean;
  /**
   * Local ports for active opens, first and last (Linux's ip_local_port_range). Default: the IANA
   * dynamic range 49152–65535 (RFC 6335).
   */
  ephemeralPortRange?: [number, number];
  /** Tests only: pick initial sequence numbers (default: RFC 6528). */
  isn?: (now: number) => number;
}

export type DropReason = string;

/** The IANA dynamic port range (RFC 6335), where active opens take their local port by default. */
export const EPHEMERAL_PORT_RANGE: [number, number] = [49152, 65535];

export interface NetstackCounters {
  packetsIn: number;
  packetsOut: number;
  tcpSegmentsIn: number;
  tcpSegmentsOut: number;
  tcpRetransmits: number;
  tcpTimeouts: number;
  tcpResetsSent: number;
  tcpConnectionsOpened: number;
  tcpConnectionsAccepted: number;
  tcpConnectionsFailed: number;
  /** Live connections (not counting TIME_WAIT). */
  tcpActive: number;
  /** 4-tuples in TIME_WAIT (compact records). */
  tcpTimeWait: number;
  /** Active opens that took over a 4-tuple in TIME_WAIT (Linux's tcp_tw_reuse). */
  tcpTimeWaitReused: number;
  udpIn: number;
  udpOut: number;
  icmpEchoReplies: number;
  drops: Record<DropReason, number>;
}

export type UdpHandler = (
  payload: Buffer,
  from: { address: Uint8Array; port: number },
  to: { address: Uint8Array; port: number },
) => void;

export interface TcpListener {
  readonly port: number;
  close(): void;
}

interface ListenerEntry {
  port: number;
  address: Uint8Array | null; // null: any of our addresses
  onAccept: (conn: TcpConnection) => void;
  halfOpen: number;
  admit?: AdmitFn;
}

/** Asked before a SYN is answered (intercept mode): false refuses it with a RST. */
export type AdmitFn = (
  local: Uint8Array,
  localPort: number,
  remote: Uint8Array,
  remotePort: number,
) => boolean;

export class Netstack {
  readonly addresses: Uint8Array[];
  private readonly opts: NetstackOptions;
  readonly tcpConfig4: TcpConfig;
  readonly tcpConfig6: TcpConfig;
  private readonly conns = new Map<string, TcpConnection>();
  /** Connections with a timer armed, by deadline: a tick visits only the due ones. */
  private readonly timers = new DeadlineHeap<TcpConnection>();
  /** 4-tuples in TIME_WAIT, as compact records (tcp/time-wait.ts), in expiry order. */
  private readonly timeWait = new TimeWaitTable();
  private readonly twHeader: TcpHeaderOut = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: ACK, window: 0 };
  // RFC 6056 algorithm 4: a counter per hash bucket of destinations, so connections to one
  // destination walk its ports in sequence whatever other destinations do (one shared counter made
  // four destinations used round-robin share a quarter of the ports each).
  private readonly portCounters = new Uint32Array(256);
  private readonly portMin: number;
  private readonly portCount: number;
  /**
   * What `tick` looked at: connections whose deadline had come and TIME_WAIT records that expired.
   * Nothing else is visited, however many connections and records there are.
   */
  readonly timerStats = { ticks: 0, visits: 0 };
  private readonly listeners = new Map<number, ListenerEntry[]>();
  private readonly udpPorts = new Map<number, UdpHandler>();
  private anyListener: ListenerEntry | null = null;
  private readonly dirty = new Set<TcpConnection>();
  /** Connections to flush at the next flush, not this one (a held-back stretch ACK: TcpConfig.ackStretch). */
  private readonly later = new Set<TcpConnection>();
  private lastConn: TcpConnection | null = null;
  private readonly isnKey: Buffer;
  private readonly host: TcpHost;
  private ipId = 0;
  private dirtySignalled = false;
  private readonly backlog: number;
  private readonly verifyChecksums: boolean;
  // Totals of connections already gone, so counters survive their connections.
  private closedRetransmits = 0;
  private closedTimeouts = 0;
  readonly counters: NetstackCounters = {
    packetsIn: 0,
    packetsOut: 0,
    tcpSegmentsIn: 0,
    tcpSegmentsOut: 0,
    tcpRetransmits: 0,
    tcpTimeouts: 0,
    tcpResetsSent: 0,
    tcpConnectionsOpened: 0,
    tcpConnectionsAccepted: 0,
    tcpConnectionsFailed: 0,
    tcpActive: 0,
    tcpTimeWait: 0,
    tcpTimeWaitReused: 0,
    udpIn: 0,
    udpOut: 0,
    icmpEchoReplies: 0,
    drops: {},
  };

  constructor(opts: NetstackOptions) {
    this.opts = opts;
    this.addresses = opts.addresses.map((a) => Buffer.from(a));
    const mtu = opts.mtu ?? 1420;
    // MSS clamp: a segment must fit the tunnel MTU because we never fragment (docs/netstack.md).
    this.tcpConfig4 = { ...DEFAULT_TCP_CONFIG, ...opts.tcp, mss: mtu - 40 };
    this.tcpConfig6 = { ...DEFAULT_TCP_CONFIG, ...opts.tcp, mss: mtu - 60 };
    this.isnKey = opts.randomBytes(32);
    this.backlog = opts.backlog ?? 256;
    const [lo, hi] = opts.ephemeralPortRange ?? EPHEMERAL_PORT_RANGE;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
      throw new NetstackError('not-supported', `bad ephemeral port range ${lo}-${hi}`);
    }
    this.portMin = lo;
    this.portCount = hi - lo + 1;
    this.verifyChecksums = opts.linkAuthenticated !== true;
    const self = this;
    this.host = {
      transmit(conn, h, payload) {
        self.transmitTcp(conn.localAddress, conn.remoteAddress, h, payload);
      },
      markDirty(conn) {
        self.dirty.add(conn);
        self.signalDirty();
      },
      flushLater(conn) {
        self.later.add(conn);
        self.signalDirty();
      },
      closed(conn) {
        self.forget(conn);
      },
    };
  }

  // ------------------------------------------------------------------ input

  /** Takes one IP packet. The stack may keep views into `packet` (received data): do not reuse it. */
  input(packet: Buffer): void {
    this.counters.packetsIn++;
    const r = parseIpPacket(packet, this.verifyChecksums);
    if (!r.ok) {
      this.drop(r.reason);
      return;
    }
    const p = r.packet;
    if (!this.opts.interceptAll && !this.isLocal(p.dst)) {
      this.drop('not-for-us');
      return;
    }
    switch (p.protocol) {
      case PROTO_TCP:
        this.inputTcp(p);
        return;
      case PROTO_UDP:
        this.inputUdp(packet, p);
        return;
      case PROTO_ICMP:
      case PROTO_ICMPV6: {
        const reply = this.isLocal(p.dst) ? echoReplyFor(p) : null;
        if (reply === null) {
          this.drop('icmp-ignored');
          return;
        }
        this.counters.icmpEchoReplies++;
        this.send(reply);
        return;
      }
      default:
        this.drop('unknown-protocol');
        return;
    }
  }

  private inputTcp(p: IpPacket): void {
    const r = parseTcpSegment(p.payload, p.src, p.dst, this.verifyChecksums);
    if (!r.ok) {
      this.drop(r.reason);
      return;
    }
    const seg = r.segment;
    this.counters.tcpSegmentsIn++;
    // Bulk transfers send runs of segments for one connection: check the last one before building
    // the string key for the map.
    let conn = this.lastConn;
    if (
      conn === null ||
      conn.remotePort !== seg.srcPort ||
      conn.localPort !== seg.dstPort ||
      !addressEquals(conn.remoteAddress, p.src) ||
      !addressEquals(conn.localAddress, p.dst) ||
      conn.state === 'CLOSED'
    ) {
      conn = this.conns.get(connKey(p.dst, seg.dstPort, p.src, seg.srcPort)) ?? null;
      if (conn !== null) this.lastConn = conn;
    }
    if (conn !== null && (seg.flags & (SYN | ACK | RST)) === SYN && conn.takesNewIncarnation(seg)) {
      // A new connection on a 4-tuple still in TIME_WAIT (RFC 9293 §3.6.1, RFC 6191): end the old
      // one and let the listener take the SYN below.
      conn.release();
      conn = null;
    }
    if (conn !== null) {
      conn.onSegment(seg, this.opts.now());
      this.schedule(conn);
      return;
    }
    let previous: TimeWaitRecord | null = null;
    if (this.timeWait.size > 0) {
      const tw = this.timeWait.get(connKey(p.dst, seg.dstPort, p.src, seg.srcPort));
      if (tw !== undefined) {
        if (!this.inputTimeWait(tw, seg)) return;
        previous = tw; // a new incarnation's SYN: it starts above the old one (reuseIss)
      }
    }
    // No connection: a SYN for a listener opens one; anything else gets a RST (RFC 9293 §3.10.7.1).
    if ((seg.flags & (SYN | ACK | RST)) === SYN) {
      const l = this.findListener(p.dst, seg.dstPort);
      if (l !== undefined && l.admit !== undefined && !l.admit(p.dst, seg.dstPort, p.src, seg.srcPort)) {
        this.drop('tcp-refused');
        this.resetFor(p, seg);
        return;
      }
      if (l !== undefined) {
        this.acceptSyn(l, p, seg, previous);
        return;
      }
    }
    this.drop('tcp-no-socket');
    this.resetFor(p, seg);
  }

  /** A segment for a 4-tuple in TIME_WAIT. Returns true when a listener should take it (a new SYN). */
  private inputTimeWait(tw: TimeWaitRecord, seg: TcpSegment): boolean {
    const now = this.opts.now();
    const action = timeWaitInput(tw, seg, now);
    if (action === 'new-incarnation') {
      this.timeWait.delete(tw);
      this.counters.tcpTimeWait = this.timeWait.size;
      return true;
    }
    if (action === 'drop') return false;
    if (action === 'ack-restart') this.timeWait.restart(tw, now + this.tcpConfig4.timeWaitMs);
    const h = this.twHeader;
    h.srcPort = tw.localPort;
    h.dstPort = tw.remotePort;
    h.seq = tw.sndNxt;
    h.ack = tw.rcvNxt;
    h.window = tw.window;
    h.tsVal = tw.tsOn ? tw.tsVal(now) : undefined;
    h.tsEcr = tw.tsOn ? tw.tsRecent : undefined;
    this.transmitTcp(tw.localAddress, tw.remoteAddress, h, null);
    return false;
  }

  private acceptSyn(l: ListenerEntry, p: IpPacket, seg: TcpSegment, previous: TimeWaitRecord | null): void {
    if (l.halfOpen >= this.backlog) {
      this.drop('tcp-backlog-full');
      return;
    }
    const now = this.opts.now();
    const local = this.ownAddress(p.dst) ?? Buffer.from(p.dst);
    const remote = this.internRemote(p.src);
    const conn = this.newConnection(local, seg.dstPort, remote, seg.srcPort, now, previous);
    l.halfOpen++;
    let counted = true;
    const release = () => {
      if (counted) l.halfOpen--;
      counted = false;
    };
    conn.onEstablished = () => {
      release();
      this.counters.tcpConnectionsAccepted++;
      l.onAccept(conn);
    };
    conn.onClose = () => release();
    conn.accept(seg, now);
    this.schedule(conn);
  }

  private resetFor(p: IpPacket, seg: TcpSegment): void {
    if (seg.flags & RST) return;
    const h: TcpHeaderOut = {
      srcPort: seg.dstPort,
      dstPort: seg.srcPort,
      seq: 0,
      ack: 0,
      flags: RST,
      window: 0,
    };
    if (seg.flags & ACK) {
      h.seq = seg.ack;
    } else {
      const segLen = seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & 1 ? 1 : 0);
      h.ack = (seg.seq + segLen) >>> 0;
      h.flags = RST | ACK;
    }
    this.counters.tcpResetsSent++;
    this.transmitTcp(p.dst, p.src, h, null);
  }

  private inputUdp(packet: Buffer, p: IpPacket): void {
    const r = parseUdp(p.payload, p.src, p.dst, this.verifyChecksums);
    if (!r.ok) {
      this.drop(r.reason);
      return;
    }
    const d = r.datagram;
    const handler = this.udpPorts.get(d.dstPort);
    if (handler === undefined) {
      this.drop('udp-no-socket');
      this.send(portUnreachableFor(packet, p));
      return;
    }
    this.counters.udpIn++;
    handler(d.payload, { address: p.src, port: d.srcPort }, { address: p.dst, port: d.dstPort });
  }

  // ------------------------------------------------------------------ TCP API

  /**
   * Active open to remote:port from our address of the same family. Returns the connection in
   * SYN_SENT. Throws a NetstackError: `no-local-address`, or `ports-exhausted` when every ephemeral
   * port towards this destination is in use or in a TIME_WAIT that cannot be reused yet.
   */
  connect(remote: Uint8Array, port: number, local?: Uint8Array): TcpConnection {
    const src = local ?? this.addresses.find((a) => a.length === remote.length);
    if (src === undefined)
      throw new NetstackError(
        'no-local-address',
        `no local ${remote.length === 4 ? 'IPv4' : 'IPv6'} address`,
      );
    const now = this.opts.now();
    const rem = this.internRemote(remote);
    const pick = this.ephemeralPort(src, rem, port, now);
    if (pick === null) {
      this.drop('tcp-ports-exhausted');
      throw new NetstackError(
        'ports-exhausted',
        `no free local port towards ${formatAddress(rem)}:${port}: all ${this.portCount} ephemeral ports are in use or in TIME_WAIT`,
      );
    }
    if (pick.reuse !== null) {
      // Linux's tcp_tw_reuse: the old incarnation is known to be safe to replace (canReuseForConnect).
      this.timeWait.delete(pick.reuse);
      this.counters.tcpTimeWait = this.timeWait.size;
      this.counters.tcpTimeWaitReused++;
    }
    const own = local === undefined ? src : (this.ownAddress(src) ?? Buffer.from(src));
    const conn = this.newConnection(own as Buffer, pick.port, rem, port, now, pick.reuse);
    this.counters.tcpConnectionsOpened++;
    conn.connect(now);
    this.schedule(conn);
    return conn;
  }

  /** Listens on port (on one of our addresses, or all). */
  listen(port: number, onAccept: (conn: TcpConnection) => void, address?: Uint8Array): TcpListener {
    const entry: ListenerEntry = {
      port,
      address: address ? Buffer.from(address) : null,
      onAccept,
      halfOpen: 0,
    };
    const list = this.listeners.get(port) ?? [];
    if (
      list.some(
        (e) => e.address === null || entry.address === null || addressEquals(e.address, entry.address),
      )
    ) {
      throw new NetstackError('address-in-use', `port ${port} is already listened on`);
    }
    list.push(entry);
    this.listeners.set(port, list);
    return {
      port,
      close: () => {
        const cur = this.listeners.get(port)?.filter((e) => e !== entry) ?? [];
        if (cur.length === 0) this.listeners.delete(port);
        else this.listeners.set(port, cur);
      },
    };
  }

  /**
   * Intercept mode: accepts TCP to every address and port no other listener has. `admit`, asked
   * on each SYN, can refuse it: the SYN is answered with a RST (the peer sees "connection refused")
   * and counted as `tcp-refused`.
   */
  listenAll(onAccept: (conn: TcpConnection) => void, admit?: AdmitFn): TcpListener {
    if (!this.opts.interceptAll) throw new NetstackError('not-supported', 'listenAll needs interceptAll');
    if (this.anyListener !== null) throw new NetstackError('address-in-use', 'listenAll is already in use');
    const entry: ListenerEntry = { port: 0, address: null, onAccept, halfOpen: 0, admit };
    this.anyListener = entry;
    return {
      port: 0,
      close: () => {
        if (this.anyListener === entry) this.anyListener = null;
      },
    };
  }

  private findListener(address: Uint8Array, port: number): ListenerEntry | undefined {
    const list = this.listeners.get(port);
    // (without interceptAll every address reaching this point is ours)
    const own =
      list?.find((e) => e.address !== null && addressEquals(e.address, address)) ??
      (this.isLocal(address) ? list?.find((e) => e.address === null) : undefined);
    return own ?? this.anyListener ?? undefined;
  }

  private newConnection(
    local: Buffer,
    localPort: number,
    remote: Buffer,
    remotePort: number,
    now: number,
    previous: TimeWaitRecord | null, // this 4-tuple's last incarnation, in TIME_WAIT until now
  ) {
    const cfg = remote.length === 4 ? this.tcpConfig4 : this.tcpConfig6;
    let iss = this.opts.isn
      ? this.opts.isn(now)
      : initialSequenceNumber(this.isnKey, now, local, localPort, remote, remotePort);
    if (previous !== null) iss = reuseIss(previous, iss);
    const tsOffset = previous !== null ? previous.tsOffset : timestampOffset(this.isnKey, local, remote);
    const conn = new TcpConnection(
      { localAddress: local, localPort, remoteAddress: remote, remotePort },
      cfg,
      this.host,
      iss,
      tsOffset,
      now,
    );
    this.conns.set(connKey(local, localPort, remote, remotePort), conn);
    this.counters.tcpActive = this.conns.size;
    return conn;
  }

  private forget(conn: TcpConnection): void {
    const key = connKey(conn.localAddress, conn.localPort, conn.remoteAddress, conn.remotePort);
    if (this.conns.get(key) === conn) this.conns.delete(key);
    if (this.lastConn === conn) this.lastConn = null;
    this.dirty.delete(conn);
    this.later.delete(conn);
    this.timers.remove(conn);
    this.closedRetransmits += conn.counters.retransmits;
    this.closedTimeouts += conn.counters.timeouts;
    if (conn.error !== null && conn.error.code !== 'aborted') this.counters.tcpConnectionsFailed++;
    this.counters.tcpActive = this.conns.size;
  }

  /** A connection in TIME_WAIT with its FIN acknowledged: from now on a compact record stands for it. */
  private toTimeWait(conn: TcpConnection): void {
    const key = connKey(conn.localAddress, conn.localPort, conn.remoteAddress, conn.remotePort);
    const rec = conn.detachTimeWait(key);
    this.forget(conn);
    this.timeWait.add(rec);
    this.counters.tcpTimeWait = this.timeWait.size;
  }

  /** Queues the connection's next deadline (call after anything that may have changed its timers). */
  private schedule(conn: TcpConnection): void {
    if (conn.state === 'CLOSED' || conn.isDetached) this.timers.remove(conn);
    else this.timers.set(conn, conn.nextDeadline());
  }

  /**
   * RFC 6056 algorithm 4 ("double-hash"): the search starts at a keyed hash of the destination plus
   * the counter of its bucket, and walks the whole range. A port is taken when no connection and no listener uses it, or when its
   * 4-tuple is in a TIME_WAIT that may be reused (canReuseForConnect); null when none is left.
   */
  private ephemeralPort(
    local: Uint8Array,
    remote: Uint8Array,
    remotePort: number,
    now: number,
  ): { port: number; reuse: TimeWaitRecord | null } | null {
    const h = ephemeralPortOffset(this.isnKey, local, remote, remotePort);
    const bucket = h.bucket;
    const start = h.offset + this.portCounters[bucket];
    const prefix = connKeyPrefix(local, remote, remotePort);
    const checkTimeWait = this.timeWait.size > 0;
    for (let i = 0; i < this.portCount; i++) {
      const port = this.portMin + ((start + i) % this.portCount);
      if (this.listeners.has(port)) continue;
      const key = prefix + port;
      if (this.conns.has(key)) continue;
      const tw = checkTimeWait ? this.timeWait.get(key) : undefined;
      if (tw !== undefined && !canReuseForConnect(tw, now)) continue;
      this.portCounters[bucket] = (this.portCounters[bucket] + i + 1) % this.portCount;
      return { port, reuse: tw ?? null };
    }
    return null;
  }

  /**
   * One Buffer per remote address, shared by its connections and TIME_WAIT records (~110 bytes of
   * heap each otherwise: a proxy's connections mostly go to few destinations). Addresses are never
   * written after creation. Bounded: emptied when it reaches 1,024 addresses.
   */
  private internRemote(a: Uint8Array): Buffer {
    const k = addrKey(a);
    let b = this.remotes.get(k);
    if (b === undefined) {
      if (this.remotes.size >= 1024) this.remotes.clear();
      b = Buffer.from(a);
      this.remotes.set(k, b);
    }
    return b;
  }

  private readonly remotes = new Map<string, Buffer>();

  private ownAddress(a: Uint8Array): Buffer | undefined {
    for (const x of this.addresses) if (addressEquals(x, a)) return x as Buffer;
    return undefined;
  }

  // ------------------------------------------------------------------ UDP API

  bindUdp(port: number, handler: UdpHandler): { close(): void } {
    if (this.udpPorts.has(port)) throw new NetstackError('address-in-use', `UDP port ${port} is in use`);
    this.udpPorts.set(port, handler);
    return { close: () => this.udpPorts.delete(port) };
  }

  sendUdp(
    from: { address: Uint8Array; port: number },
    to: { address: Uint8Array; port: number },
    payload: Uint8Array,
  ) {
    this.counters.udpOut++;
    this.send(buildUdpPacket(from.address, from.port, to.address, to.port, payload));
  }

  // ------------------------------------------------------------------ driving

  /** Emits what connections have pending (data, ACKs). Call after each batch of input or writes. */
  flush(): void {
    this.dirtySignalled = false;
    if (this.later.size > 0) {
      for (const c of this.later) this.dirty.add(c);
      this.later.clear();
    }
    if (this.dirty.size === 0) return;
    const now = this.opts.now();
    // A connection can become dirty again while flushing (onDrain → write): loop until quiet.
    for (let rounds = 0; rounds < 4 && this.dirty.size > 0; rounds++) {
      const batch = [...this.dirty];
      this.dirty.clear();
      for (const c of batch) {
        c.flush(now);
        if (c.state === 'TIME_WAIT' && !c.isDetached) this.toTimeWait(c);
        else this.schedule(c);
      }
    }
  }

  /** Runs due timers: visits the connections whose deadline has come and expires TIME_WAIT records. */
  tick(): void {
    const now = this.opts.now();
    this.timerStats.ticks++;
    // Take the due ones first, then run them: a connection is ticked at most once per call.
    let c = this.timers.popDue(now);
    if (c !== null) {
      const due: TcpConnection[] = [];
      for (; c !== null; c = this.timers.popDue(now)) due.push(c);
      this.timerStats.visits += due.length;
      for (const d of due) {
        d.tick(now);
        this.schedule(d);
      }
    }
    if (this.timeWait.size > 0) {
      this.timerStats.visits += this.timeWait.expire(now);
      this.counters.tcpTimeWait = this.timeWait.size;
    }
    this.flush();
  }

  /** Earliest timer deadline over all connections and TIME_WAIT records (ms), or -1. */
  nextDeadline(): number {
    const t = this.timers.peekKey();
    const w = this.timeWait.nextExpiry();
    if (t === -1) return w;
    return w === -1 || t < w ? t : w;
  }

  /** Live connections (TIME_WAIT records are not connections: see timeWaitCount). */
  get connectionCount(): number {
    return this.conns.size;
  }

  /** 4-tuples held in TIME_WAIT (compact records). */
  get timeWaitCount(): number {
    return this.timeWait.size;
  }

  /** Connections with a timer armed (the tick's queue). */
  get timerQueueLength(): number {
    return this.timers.size;
  }

  connections(): IterableIterator<TcpConnection> {
    return this.conns.values();
  }

  /** Counters with the live connections' retransmissions folded in. */
  snapshot(): NetstackCounters {
    let rexmit = this.closedRetransmits;
    let timeouts = this.closedTimeouts;
    for (const c of this.conns.values()) {
      rexmit += c.counters.retransmits;
      timeouts += c.counters.timeouts;
    }
    return {
      ...this.counters,
      tcpRetransmits: rexmit,
      tcpTimeouts: timeouts,
      tcpActive: this.conns.size,
      tcpTimeWait: this.timeWait.size,
      drops: { ...this.counters.drops },
    };
  }

  isLocal(address: Uint8Array): boolean {
    for (const a of this.addresses) if (addressEquals(a, address)) return true;
    return false;
  }

  // ------------------------------------------------------------------ output

  private transmitTcp(src: Uint8Array, dst: Uint8Array, h: TcpHeaderOut, payload: Buffer | null): void {
    const ipHl = ipHeaderLength(src);
    const tl = tcpHeaderLength(h);
    const plen = payload === null ? 0 : payload.length;
    const len = ipHl + tl + plen;
    // The scratch buffer only when nothing is using it (output could, in principle, re-enter).
    const reuse = this.opts.outputCopies === true && !this.scratchBusy;
    if (reuse && this.scratch.length < len) this.scratch = Buffer.allocUnsafe(Math.max(len, 2048));
    const buf = reuse ? this.scratch.subarray(0, len) : Buffer.allocUnsafe(len);
    this.ipId = (this.ipId + 1) & 0xffff;
    writeIpHeader(buf, {
      src,
      dst,
      protocol: PROTO_TCP,
      payloadLength: tl + plen,
      identification: this.ipId,
    });
    writeTcpSegment(buf, ipHl, h, payload, src, dst);
    this.counters.tcpSegmentsOut++;
    if (!reuse) {
      this.send(buf);
      return;
    }
    this.scratchBusy = true;
    try {
      this.send(buf);
    } finally {
      this.scratchBusy = false;
    }
  }

  private scratch: Buffer = Buffer.alloc(0);
  private scratchBusy = false;

  private send(packet: Buffer): void {
    this.counters.packetsOut++;
    this.opts.output(packet);
  }

  private drop(reason: DropReason): void {
    this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1;
  }

  private signalDirty(): void {
    if (this.dirtySignalled) return;
    this.dirtySignalled = true;
    this.opts.onDirty?.();
  }
}

/** Why a stack call was refused. */
export type NetstackErrorCode =
  | 'no-local-address' // no address of the destination's family
  | 'address-in-use' // a listener or UDP port is already there
  | 'not-supported' // listenAll without interceptAll, a bad option
  | 'ports-exhausted'; // every ephemeral port towards the destination is in use or in TIME_WAIT

export class NetstackError extends Error {
  override name = 'NetstackError';
  readonly code: NetstackErrorCode;
  constructor(code: NetstackErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

function addrKey(a: Uint8Array): string {
  if (a.length === 4) return String(((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0);
  return formatAddress(a);
}

/** Demultiplexing key of a connection (local, remote). */
function connKey(local: Uint8Array, localPort: number, remote: Uint8Array, remotePort: number): string {
  return `${addrKey(remote)}:${remotePort}>${addrKey(local)}:${localPort}`;
}

/** connKey without the local port, which the ephemeral port search appends. */
function connKeyPrefix(local: Uint8Array, remote: Uint8Array, remotePort: number): string {
  return `${addrKey(remote)}:${remotePort}>${addrKey(local)}:`;
}
