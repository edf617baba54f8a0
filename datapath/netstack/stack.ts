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
import { initialSequenceNumber } from './tcp/isn.ts';
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
  /** Cryptographic randomness (ISN key, timestamp offsets, ephemeral ports). */
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
  /** Tests only: pick initial sequence numbers (default: RFC 6528). */
  isn?: (now: number) => number;
}

export type DropReason = string;

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
  tcpActive: number;
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
  private readonly listeners = new Map<number, ListenerEntry[]>();
  private readonly udpPorts = new Map<number, UdpHandler>();
  private anyListener: ListenerEntry | null = null;
  private readonly dirty = new Set<TcpConnection>();
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
      return;
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
        this.acceptSyn(l, p, seg);
        return;
      }
    }
    this.drop('tcp-no-socket');
    this.resetFor(p, seg);
  }

  private acceptSyn(l: ListenerEntry, p: IpPacket, seg: TcpSegment): void {
    if (l.halfOpen >= this.backlog) {
      this.drop('tcp-backlog-full');
      return;
    }
    const now = this.opts.now();
    const local = Buffer.from(p.dst);
    const remote = Buffer.from(p.src);
    const conn = this.newConnection(local, seg.dstPort, remote, seg.srcPort, now);
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

  /** Active open to remote:port from our address of the same family. Returns the connection in SYN_SENT. */
  connect(remote: Uint8Array, port: number, local?: Uint8Array): TcpConnection {
    const src = local ?? this.addresses.find((a) => a.length === remote.length);
    if (src === undefined)
      throw new NetstackError(`no local ${remote.length === 4 ? 'IPv4' : 'IPv6'} address`);
    const now = this.opts.now();
    const rem = Buffer.from(remote);
    const localPort = this.ephemeralPort(src, rem, port);
    const conn = this.newConnection(Buffer.from(src), localPort, rem, port, now);
    this.counters.tcpConnectionsOpened++;
    conn.connect(now);
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
      throw new NetstackError(`port ${port} is already listened on`);
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
    if (!this.opts.interceptAll) throw new NetstackError('listenAll needs interceptAll');
    if (this.anyListener !== null) throw new NetstackError('listenAll is already in use');
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

  private newConnection(local: Buffer, localPort: number, remote: Buffer, remotePort: number, now: number) {
    const cfg = remote.length === 4 ? this.tcpConfig4 : this.tcpConfig6;
    const iss = this.opts.isn
      ? this.opts.isn(now)
      : initialSequenceNumber(this.isnKey, now, local, localPort, remote, remotePort);
    const tsOffset = this.opts.randomBytes(4).readUInt32BE(0);
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
    this.closedRetransmits += conn.counters.retransmits;
    this.closedTimeouts += conn.counters.timeouts;
    if (conn.error !== null && conn.error.code !== 'aborted') this.counters.tcpConnectionsFailed++;
    this.counters.tcpActive = this.conns.size;
  }

  private ephemeralPort(local: Uint8Array, remote: Uint8Array, remotePort: number): number {
    // Random in the IANA dynamic range (RFC 6056 algorithm 1), retried on collision.
    for (let i = 0; i < 64; i++) {
      const port = 49152 + (this.opts.randomBytes(2).readUInt16BE(0) % 16384);
      if (!this.conns.has(connKey(local, port, remote, remotePort)) && !this.listeners.has(port)) return port;
    }
    throw new NetstackError('no free ephemeral port');
  }

  // ------------------------------------------------------------------ UDP API

  bindUdp(port: number, handler: UdpHandler): { close(): void } {
    if (this.udpPorts.has(port)) throw new NetstackError(`UDP port ${port} is in use`);
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
    if (this.dirty.size === 0) return;
    const now = this.opts.now();
    // A connection can become dirty again while flushing (onDrain → write): loop until quiet.
    for (let rounds = 0; rounds < 4 && this.dirty.size > 0; rounds++) {
      const batch = [...this.dirty];
      this.dirty.clear();
      for (const c of batch) c.flush(now);
    }
  }

  /** Runs due timers. */
  tick(): void {
    const now = this.opts.now();
    for (const c of this.conns.values()) {
      const d = c.nextDeadline();
      if (d !== -1 && d <= now) c.tick(now);
    }
    this.flush();
  }

  /** Earliest timer deadline over all connections (ms), or -1. */
  nextDeadline(): number {
    let t = -1;
    for (const c of this.conns.values()) {
      const d = c.nextDeadline();
      if (d !== -1 && (t === -1 || d < t)) t = d;
    }
    return t;
  }

  get connectionCount(): number {
    return this.conns.size;
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

export class NetstackError extends Error {
  override name = 'NetstackError';
}

function addrKey(a: Uint8Array): string {
  if (a.length === 4) return String(((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0);
  return formatAddress(a);
}

/** Demultiplexing key of a connection (local, remote). */
function connKey(local: Uint8Array, localPort: number, remote: Uint8Array, remotePort: number): string {
  return `${addrKey(remote)}:${remotePort}>${addrKey(local)}:${localPort}`;
}
