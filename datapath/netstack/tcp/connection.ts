// One TCP connection as plain state with explicit transitions (RFC 9293), sans-IO.
// It never touches a socket or a timer: the owner feeds it segments (`onSegment`), the time (`tick`),
// and application calls (`write`, `shutdownWrite`, `abort`, `setUnread`); it answers through the
// TcpHost it was given (`transmit` a header + payload, `markDirty` to ask for a `flush` soon,
// `closed` when it can be forgotten). The owner batches: segments received in one I/O turn are all
// processed before `flush` emits, so ACKs for a burst go out as one (stretch ACK), and data the
// application writes in one turn leaves in full-sized segments.
//
// What is implemented, and where it comes from:
//   three-way handshake both ways, simultaneous open       RFC 9293 §3.5, §3.10
//   MSS option, effective MSS net of options                RFC 9293 §3.7.1, RFC 6691
//   window scaling, timestamps (RTTM, PAWS)                 RFC 7323
//   SACK (receiver blocks, sender scoreboard for recovery)  RFC 2018, RFC 6675 (simplified)
//   RTO: SRTT/RTTVAR, Karn, back-off, retry limit → RST     RFC 6298
//   slow start, congestion avoidance, fast retransmit       RFC 5681, initial window RFC 6928
//   NewReno fast recovery with partial ACKs                 RFC 6582
//   sender and receiver silly-window avoidance, delayed ACK RFC 9293 §3.8.6
//   zero-window probing (persist timer)                     RFC 9293 §3.8.6.1
//   RST validation and challenge ACKs                       RFC 5961 §3, §4
//   half-close, TIME_WAIT (2·MSL), keepalive                RFC 9293 §3.6, RFC 1122 §4.2.3.6
import { ByteQueue } from './byte-queue.ts';
import {
  ACK,
  FIN,
  PSH,
  RST,
  SYN,
  type TcpHeaderOut,
  type TcpSegment,
  TIMESTAMP_OPTION_LENGTH,
} from './segment.ts';
import { seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax, seqSub } from './seq.ts';
import { canReincarnate, TimeWaitRecord } from './time-wait.ts';

export type TcpState =
  | 'SYN_SENT'
  | 'SYN_RECEIVED'
  | 'ESTABLISHED'
  | 'FIN_WAIT_1'
  | 'FIN_WAIT_2'
  | 'CLOSE_WAIT'
  | 'CLOSING'
  | 'LAST_ACK'
  | 'TIME_WAIT'
  | 'CLOSED';

/** Why a connection ended other than by an orderly close. */
export type TcpErrorCode =
  | 'refused' // RST in answer to our SYN
  | 'reset' // the peer reset an established connection
  | 'timeout' // retransmission or SYN retry limit reached
  | 'keepalive-timeout' // the peer stopped answering keepalive probes
  | 'aborted'; // the local side aborted (we sent RST)

export class TcpError extends Error {
  override name = 'TcpError';
  readonly code: TcpErrorCode;
  constructor(code: TcpErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface TcpConfig {
  /** Our MSS: the largest TCP payload an IP packet of the tunnel MTU can carry (MTU − IP − TCP header). */
  mss: number;
  /** Receive buffer: the most we advertise (window scaling chosen to reach it). */
  rcvBuffer: number;
  /** Send buffer: `write` beyond this is still accepted; `onDrain` says when it has room again. */
  sndBuffer: number;
  rtoInitialMs: number;
  rtoMinMs: number;
  rtoMaxMs: number;
  /** Retransmissions of one segment before giving up with RST (RFC 9293 R2). */
  maxRetries: number;
  synRetries: number;
  delayedAckMs: number;
  /**
   * Stretch ACKs: while in-order data keeps arriving, up to this many segments may be acknowledged by
   * one ACK (it waits one flush per new arrival; a flush with nothing new sends it). 0: an ACK for
   * every second segment, at the next flush (RFC 9293 §3.8.6.3).
   */
  ackStretch: number;
  timeWaitMs: number;
  /** null: no keepalive. */
  keepalive: { idleMs: number; intervalMs: number; probes: number } | null;
  timestamps: boolean;
  windowScaling: boolean;
  sack: boolean;
}

export const DEFAULT_TCP_CONFIG: TcpConfig = {
  mss: 1380, // 1420-byte tunnel MTU − 20 (IPv4) − 20 (TCP)
  // 1 MiB like gVisor's default: ~10× the overlay's bandwidth-delay product at 1 ms and 100 MB/s, and
  // what bounds the memory one slow reader can pin (the datapath Pod is limited to 128 MiB).
  rcvBuffer: 1024 * 1024,
  sndBuffer: 1024 * 1024,
  rtoInitialMs: 1000, // RFC 6298 (2.1)
  // RFC 6298 says 1 s; like Linux we use 200 ms: the overlay's RTTs are a few ms and a 1 s floor turns
  // every tail loss into a second of silence.
  rtoMinMs: 200,
  rtoMaxMs: 60_000,
  maxRetries: 10,
  synRetries: 5,
  delayedAckMs: 40,
  ackStretch: 0,
  timeWaitMs: 60_000, // 2·MSL with MSL = 30 s
  keepalive: null,
  timestamps: true,
  windowScaling: true,
  sack: true,
};

export interface TcpHost {
  /** Send one segment now. `h` is reused by the caller after this returns: consume it synchronously. */
  transmit(conn: TcpConnection, h: TcpHeaderOut, payload: Buffer | null): void;
  /** Ask for `flush(now)` to be called soon (after the current batch of input). */
  markDirty(conn: TcpConnection): void;
  /**
   * Ask for `flush(now)` after the *next* batch of input (not the current one), even if that batch
   * brings nothing for this connection. Optional: without it ACKs are not stretched.
   */
  flushLater?(conn: TcpConnection): void;
  /** The connection reached CLOSED and can be forgotten. */
  closed(conn: TcpConnection): void;
}

export interface TcpEndpoints {
  localAddress: Uint8Array;
  localPort: number;
  remoteAddress: Uint8Array;
  remotePort: number;
}

interface OooSegment {
  seq: number;
  data: Buffer;
  fin: boolean;
}

export interface TcpCounters {
  segmentsSent: number;
  segmentsReceived: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  /** Tail loss probes sent (RFC 8985 §7). */
  tailLossProbes: number;
  /** Retransmissions found lost (by SACK) and sent again before the timer. */
  lostRetransmits: number;
  /** Zero-window and keepalive probes sent. */
  probes: number;
  bytesSent: number;
  bytesReceived: number;
}

const NONE = -1; // a timer that is not armed

export class TcpConnection {
  readonly localAddress: Uint8Array;
  readonly localPort: number;
  readonly remoteAddress: Uint8Array;
  readonly remotePort: number;
  state: TcpState;
  error: TcpError | null = null;

  // Application callbacks. The adapter (stream.ts) sets them.
  onEstablished: () => void = noop;
  onData: (data: Buffer) => void = noop;
  /** The peer sent FIN: no more data will arrive. */
  onEnd: () => void = noop;
  /** The send buffer dropped below `sndBuffer`. */
  onDrain: () => void = noop;
  /** Both directions are done (orderly: error null) or the connection failed. Called once. */
  onClose: (error: TcpError | null) => void = noop;

  readonly counters: TcpCounters = {
    segmentsSent: 0,
    segmentsReceived: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    tailLossProbes: 0,
    lostRetransmits: 0,
    probes: 0,
    bytesSent: 0,
    bytesReceived: 0,
  };

  private readonly cfg: TcpConfig;
  private readonly host: TcpHost;
  private readonly h: TcpHeaderOut; // scratch header, reused for every segment we send

  // --- send sequence space (RFC 9293 §3.3.1)
  private readonly iss: number;
  private sndUna: number;
  private sndNxt: number;
  private sndMax: number; // highest sequence sent + 1 (sndNxt falls back below it after an RTO)
  private sndWnd = 0; // scaled
  private sndWl1 = 0;
  private sndWl2 = 0;
  private readonly sndQueue = new ByteQueue();
  private sndQueueSeq: number; // sequence number of the first byte in sndQueue
  private finQueued = false;
  private finSeq = 0;
  private sndWndShift = 0;
  private peerMss = 536;
  private effMss = 536; // payload bytes per full segment after options

  // --- receive sequence space
  private irs = 0;
  private rcvNxt = 0;
  private rcvWndShift = 0;
  private rcvAdvEdge = 0; // right edge of the window we last advertised
  private unread = 0; // delivered to the application but not yet consumed by it
  private readonly ooo: OooSegment[] = [];
  private readonly oooRanges: number[] = []; // the same data as merged [l, r) pairs: SACK blocks
  private lastOooSeq = 0;
  private finReceived = false;

  // --- options negotiated
  private tsOn = false;
  private tsRecent = 0;
  private readonly tsOffset: number;
  private lastAckSent = 0;
  private sackOn = false;
  private wsOn = false;

  // --- RTT and retransmission (RFC 6298)
  private srtt = 0;
  private rttvar = 0;
  private rto: number;
  private retries = 0;
  private rttSeq = 0; // Karn timing without timestamps: sequence being timed
  private rttTime = NONE;

  // --- congestion control (RFC 5681, 6582)
  private cwnd = 0;
  private ssthresh = 0x7fffffff;
  private dupAcks = 0;
  private inRecovery = false;
  private recover: number;
  private rexmitNext = 0;
  private sacked: number[] = []; // scoreboard: sorted, disjoint [l, r) pairs above sndUna
  private bytesAckedCa = 0;
  private limitedTransmit = 0; // segments allowed beyond cwnd by RFC 3042
  // Retransmitted holes → SND.MAX when they were resent: data above that mark was sent later, so
  // once it is SACKed while the hole is still missing, the retransmission itself was lost.
  private readonly rexmitMarks = new Map<number, number>();

  // --- timers: absolute times in ms, NONE when off
  private rtoAt = NONE;
  private tlpAt = NONE;
  private tlpOut = false;
  private persistAt = NONE;
  private persistBackoff = 0;
  private delackAt = NONE;
  private timeWaitAt = NONE;
  private keepaliveAt = NONE;
  private keepaliveProbes = 0;

  // --- the owner's timer queue (DeadlineHeap): where this connection sits and for when
  heapIndex = -1;
  heapKey = -1;
  /** Handed over to a TIME_WAIT record: the owner no longer feeds it anything. */
  private detached = false;

  // --- pending output
  private ackNow = false;
  /** The pending ACK is only due to the segment count (may be stretched: TcpConfig.ackStretch). */
  private lazyAck = false;
  /** segsSinceAck when the lazy ACK was last held back (-1: not held). */
  private lazyAckSegs = -1;
  private segsSinceAck = 0;
  private closeNotified = false;
  private now = 0;

  constructor(ends: TcpEndpoints, cfg: TcpConfig, host: TcpHost, iss: number, tsOffset: number, now: number) {
    this.localAddress = ends.localAddress;
    this.localPort = ends.localPort;
    this.remoteAddress = ends.remoteAddress;
    this.remotePort = ends.remotePort;
    this.cfg = cfg;
    this.host = host;
    this.iss = iss >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.sndQueueSeq = seqAdd(this.iss, 1);
    this.recover = this.iss;
    this.rto = cfg.rtoInitialMs;
    this.tsOffset = tsOffset >>> 0;
    this.now = now;
    this.state = 'CLOSED';
    if (cfg.windowScaling) {
      while (this.rcvWndShift < 14 && 0xffff << this.rcvWndShift < cfg.rcvBuffer) this.rcvWndShift++;
    }
    this.h = { srcPort: this.localPort, dstPort: this.remotePort, seq: 0, ack: 0, flags: 0, window: 0 };
  }

  // ===================================================================== opening

  /** Active open: send SYN. */
  connect(now: number): void {
    this.now = now;
    this.state = 'SYN_SENT';
    // Sequence state first: a link that answers synchronously must find the SYN already accounted for.
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.armRto();
    this.rttTime = now;
    this.sendSyn(false);
  }

  /** Passive open from a listener: `syn` is the peer's SYN; answer SYN-ACK. */
  accept(syn: TcpSegment, now: number): void {
    this.now = now;
    this.state = 'SYN_RECEIVED';
    this.takeSynOptions(syn);
    this.irs = syn.seq;
    this.rcvNxt = seqAdd(syn.seq, 1);
    this.updateSendWindow(syn.window, syn.seq, syn.ack, true);
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.armRto();
    this.sendSyn(true);
  }

  private takeSynOptions(syn: TcpSegment): void {
    // Each option is on only when both sides offered it; a SYN-ACK only carries what the SYN offered.
    this.tsOn = this.cfg.timestamps && syn.tsVal !== undefined;
    if (this.tsOn) this.tsRecent = syn.tsVal!;
    this.sackOn = this.cfg.sack && syn.sackPermitted;
    this.wsOn = this.cfg.windowScaling && syn.wscale !== undefined;
    this.sndWndShift = this.wsOn ? syn.wscale! : 0;
    if (!this.wsOn) this.rcvWndShift = 0;
    // RFC 9293 §3.7.1: without an MSS option assume 536 (IPv4) / 1220 (IPv6).
    this.peerMss = syn.mss ?? (this.remoteAddress.length === 4 ? 536 : 1220);
    this.effMss = Math.min(this.peerMss, this.cfg.mss) - (this.tsOn ? TIMESTAMP_OPTION_LENGTH : 0);
    if (this.effMss < 64) this.effMss = 64; // a silly MSS from the peer must not stall us
    this.cwnd = Math.min(10 * this.effMss, Math.max(2 * this.effMss, 14600)); // RFC 6928
  }

  private sendSyn(withAck: boolean): void {
    const h = this.h;
    h.seq = this.iss;
    h.ack = withAck ? this.rcvNxt : 0;
    h.flags = withAck ? SYN | ACK : SYN;
    h.window = Math.min(this.cfg.rcvBuffer, 0xffff); // never scaled in a SYN (RFC 7323 §2.2)
    h.mss = this.cfg.mss;
    const offerAll = !withAck;
    h.wscale = offerAll
      ? this.cfg.windowScaling
        ? this.rcvWndShift
        : undefined
      : this.wsOn
        ? this.rcvWndShift
        : undefined;
    h.sackPermitted = this.cfg.sack && (offerAll || this.sackOn);
    h.tsVal = this.cfg.timestamps && (offerAll || this.tsOn) ? this.tsNow() : undefined;
    h.tsEcr = h.tsVal !== undefined ? (withAck ? this.tsRecent : 0) : undefined;
    h.sack = undefined;
    if (withAck) this.rcvAdvEdge = seqAdd(this.rcvNxt, h.window);
    this.emit(null);
    h.mss = undefined;
    h.wscale = undefined;
    h.sackPermitted = undefined;
  }

  // ===================================================================== application side

  /** Queue data to send. Returns false when the send buffer is over `sndBuffer` (wait for onDrain). */
  write(data: Buffer): boolean {
    if (this.finQueued || this.state === 'CLOSED' || this.state === 'TIME_WAIT') {
      throw new TcpError('aborted', 'write after end or close');
    }
    this.sndQueue.push(data);
    this.host.markDirty(this);
    return this.sndQueue.length < this.cfg.sndBuffer;
  }

  /** Bytes written but not yet acknowledged. */
  get sendBuffered(): number {
    return this.sndQueue.length;
  }

  /** Half-close: FIN after the queued data (stream `end()`). */
  shutdownWrite(): void {
    if (this.finQueued) return;
    if (this.state === 'CLOSED' || this.state === 'TIME_WAIT') return;
    this.finQueued = true;
    this.finSeq = seqAdd(this.sndQueueSeq, this.sndQueue.length);
    if (this.state === 'ESTABLISHED' || this.state === 'SYN_RECEIVED') this.state = 'FIN_WAIT_1';
    else if (this.state === 'CLOSE_WAIT') this.state = 'LAST_ACK';
    else if (this.state === 'SYN_SENT') {
      // Nothing sent yet but the SYN: just go away.
      this.finish(null, 'CLOSED');
      return;
    }
    this.host.markDirty(this);
  }

  /** Abort: RST to the peer (when synchronized), then CLOSED. */
  abort(): void {
    if (this.state === 'CLOSED' || this.detached) return;
    if (this.state !== 'SYN_SENT' && this.state !== 'TIME_WAIT') {
      this.sendReset(this.sndNxt, this.rcvNxt);
    }
    this.finish(new TcpError('aborted', 'connection aborted locally'), 'CLOSED');
  }

  /**
   * The application holds `n` delivered bytes it has not consumed yet (a stream's readableLength).
   * This is what makes a slow reader shrink the window; growing room again may send a window update.
   */
  setUnread(n: number): void {
    const before = this.unread;
    this.unread = n;
    if (n < before && this.isSynchronized()) {
      const edge = seqAdd(this.rcvNxt, this.receiveRoom());
      // RFC 9293 §3.8.6.2.2: announce a moved edge only when it moved by min(buffer/2, MSS) or more.
      if (seqSub(edge, this.rcvAdvEdge) >= Math.min(this.cfg.rcvBuffer >> 1, this.effMss)) {
        // With stretch ACKs, as Linux does (tcp_cleanup_rbuf): an ACK of its own only when the window
        // at least doubles what the peer may still send; otherwise the larger window rides the next
        // ACK. A reader that keeps up moves the edge on every read, and an ACK per read was most of
        // what a download sent (one per stream and event-loop turn).
        const open = seqSub(this.rcvAdvEdge, this.rcvNxt);
        if (this.cfg.ackStretch > 2 && open > 0 && seqSub(edge, this.rcvNxt) < 2 * open) return;
        this.ackAtOnce();
        this.host.markDirty(this);
      }
    }
  }

  get rcvBufferLimit(): number {
    return this.cfg.rcvBuffer;
  }

  get sndBufferLimit(): number {
    return this.cfg.sndBuffer;
  }

  get advertisedWindow(): number {
    return seqSub(this.rcvAdvEdge, this.rcvNxt);
  }

  get congestionWindow(): number {
    return this.cwnd;
  }

  get sendMss(): number {
    return this.effMss;
  }

  /**
   * In TIME_WAIT, may a SYN start a new incarnation of this 4-tuple? Yes when it cannot be an old
   * duplicate: its timestamp is newer than the last one seen, or (without timestamps) its sequence
   * number is beyond the old connection's (RFC 9293 §3.6.1, RFC 6191).
   */
  takesNewIncarnation(syn: TcpSegment): boolean {
    if (this.state !== 'TIME_WAIT') return false;
    return canReincarnate(this.tsOn, this.tsRecent, this.rcvNxt, syn);
  }

  /**
   * In TIME_WAIT with nothing left to send: the compact record that carries the 4-tuple through
   * 2·MSL in the owner's place (tcp/time-wait.ts). The connection is detached: it keeps its last
   * state, TIME_WAIT, and its owner forgets it, so its buffers and the stream behind its callbacks
   * can be collected.
   */
  detachTimeWait(key: string): TimeWaitRecord {
    if (this.state !== 'TIME_WAIT' || this.detached) throw new Error('detachTimeWait outside TIME_WAIT');
    this.detached = true;
    const rec = new TimeWaitRecord(
      key,
      this,
      {
        sndNxt: this.sndNxt,
        rcvNxt: this.rcvNxt,
        window: Math.min(Math.max(0, seqSub(this.rcvAdvEdge, this.rcvNxt)) >>> this.rcvWndShift, 0xffff),
      },
      { on: this.tsOn, offset: this.tsOffset, recent: this.tsRecent },
      this.now,
      this.timeWaitAt === NONE ? this.now + this.cfg.timeWaitMs : this.timeWaitAt,
    );
    this.timeWaitAt = NONE;
    this.delackAt = NONE;
    this.ooo.length = 0;
    this.oooRanges.length = 0;
    this.rexmitMarks.clear();
    this.sacked = [];
    return rec;
  }

  /** Handed over to a TIME_WAIT record (see detachTimeWait). */
  get isDetached(): boolean {
    return this.detached;
  }

  /** Forgets a TIME_WAIT connection at once (a new incarnation replaces it). */
  release(): void {
    if (this.state === 'TIME_WAIT' && !this.detached) this.finish(null, 'CLOSED');
  }

  isSynchronized(): boolean {
    return this.state !== 'SYN_SENT' && this.state !== 'SYN_RECEIVED' && this.state !== 'CLOSED';
  }

  // ===================================================================== input

  onSegment(seg: TcpSegment, now: number): void {
    this.now = now;
    if (this.detached) return;
    this.counters.segmentsReceived++;
    if (this.state === 'SYN_SENT') {
      this.onSegmentSynSent(seg);
      return;
    }
    if (this.state === 'CLOSED') return;
    const segLen = seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);

    // PAWS (RFC 7323 §5.3): a timestamp older than the last in-window one marks an old duplicate.
    if (this.tsOn && seg.tsVal !== undefined && !(seg.flags & RST) && seqLt(seg.tsVal, this.tsRecent)) {
      this.ackAtOnce();
      this.host.markDirty(this);
      return;
    }

    // 1. sequence acceptability (RFC 9293 §3.10.7.4)
    const wnd = this.receiveRoom();
    let acceptable: boolean;
    if (segLen === 0) {
      acceptable = wnd === 0 ? seg.seq === this.rcvNxt : inWindow(seg.seq, this.rcvNxt, wnd);
    } else {
      acceptable =
        wnd > 0 &&
        (inWindow(seg.seq, this.rcvNxt, wnd) || inWindow(seqAdd(seg.seq, segLen - 1), this.rcvNxt, wnd));
    }
    // A zero window still takes ACKs (and RSTs) riding on data it cannot accept (§3.10.7.4).
    const zeroWindowAckOnly = !acceptable && wnd === 0 && seg.seq === this.rcvNxt;
    if (!acceptable && !zeroWindowAckOnly) {
      if (!(seg.flags & RST)) {
        this.ackAtOnce();
        this.host.markDirty(this);
      }
      return;
    }

    // 2. RST (RFC 5961 §3.2): exact match resets, otherwise a challenge ACK
    if (seg.flags & RST) {
      if (seg.seq !== this.rcvNxt) {
        this.ackAtOnce();
        this.host.markDirty(this);
        return;
      }
      // RFC 1337: a RST must not cut TIME_WAIT short (an old duplicate could then open a new
      // incarnation); the 2·MSL timer ends it.
      if (this.state === 'TIME_WAIT') return;
      if (this.state === 'LAST_ACK' || this.state === 'CLOSING') {
        this.finish(null, 'CLOSED');
      } else {
        this.finish(new TcpError('reset', 'connection reset by peer'), 'CLOSED');
      }
      return;
    }

    // 3. a SYN in a synchronized state: challenge ACK (RFC 5961 §4), never a reset
    if (seg.flags & SYN) {
      if (this.state === 'SYN_RECEIVED' && seg.seq === this.irs) {
        // Our SYN-ACK was lost and the peer retransmitted its SYN: answer again.
        this.sendSyn(true);
        return;
      }
      this.ackAtOnce();
      this.host.markDirty(this);
      return;
    }

    if (!(seg.flags & ACK)) return;
    this.keepaliveProbes = 0;
    this.armKeepalive();

    // timestamps: remember the peer's clock for echoing (RFC 7323 §4.3)
    if (this.tsOn && seg.tsVal !== undefined && seqLe(seg.seq, this.lastAckSent)) this.tsRecent = seg.tsVal;

    // 4. ACK
    if (this.state === 'SYN_RECEIVED') {
      if (seqGt(seg.ack, this.sndUna) && seqLe(seg.ack, this.sndMax)) {
        this.state = this.finQueued ? 'FIN_WAIT_1' : 'ESTABLISHED';
        this.updateSendWindow(seg.window << this.sndWndShift, seg.seq, seg.ack, true);
        this.onEstablished();
      } else {
        this.sendReset(seg.ack);
        return;
      }
    }
    if (!this.processAck(seg)) return;
    if ((this.state as TcpState) === 'CLOSED') return;

    // 5. data
    if (zeroWindowAckOnly) {
      if (seg.payload.length > 0) {
        this.ackAtOnce();
        this.host.markDirty(this);
      }
      return;
    }
    if (
      (this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2') &&
      (seg.payload.length > 0 || seg.flags & FIN)
    ) {
      this.receiveData(seg);
    } else if (seg.flags & FIN && this.state === 'TIME_WAIT') {
      // The peer did not get our ACK of its FIN: ACK again, restart 2·MSL (RFC 9293 §3.10.7.4).
      this.timeWaitAt = this.now + this.cfg.timeWaitMs;
      this.ackAtOnce();
      this.host.markDirty(this);
    }
  }

  private onSegmentSynSent(seg: TcpSegment): void {
    const hasAck = (seg.flags & ACK) !== 0;
    if (hasAck && (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax))) {
      if (!(seg.flags & RST)) this.sendReset(seg.ack);
      return;
    }
    if (seg.flags & RST) {
      if (hasAck) this.finish(new TcpError('refused', 'connection refused'), 'CLOSED');
      return;
    }
    if (!(seg.flags & SYN)) return;
    this.takeSynOptions(seg);
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdvEdge = seqAdd(this.rcvNxt, Math.min(this.cfg.rcvBuffer, 0xffff));
    if (hasAck) {
      this.sndUna = seg.ack;
      this.updateSendWindow(seg.window << this.sndWndShift, seg.seq, seg.ack, true);
      this.rtoAt = NONE;
      this.retries = 0;
      // An RTT sample from the handshake, unless the SYN was retransmitted (Karn).
      if (this.tsOn && seg.tsEcr !== undefined && seg.tsEcr !== 0) this.rttSample(this.tsNow() - seg.tsEcr);
      else if (this.rttTime !== NONE) this.rttSample(this.now - this.rttTime);
      this.rttTime = NONE;
      this.state = this.finQueued ? 'FIN_WAIT_1' : 'ESTABLISHED';
      this.armKeepalive();
      this.ackAtOnce();
      this.host.markDirty(this);
      this.onEstablished();
    } else {
      // Simultaneous open (RFC 9293 §3.5, figure 8).
      this.state = 'SYN_RECEIVED';
      this.sendSyn(true);
    }
  }

  /** Returns false when the segment must be dropped after the ACK check. */
  private processAck(seg: TcpSegment): boolean {
    const ack = seg.ack;
    if (seqGt(ack, this.sndMax)) {
      // Acknowledges something never sent: ACK back and drop (RFC 9293).
      this.ackAtOnce();
      this.host.markDirty(this);
      return false;
    }
    const window = seg.window << this.sndWndShift;
    const sackedBefore = this.sackOn ? this.sackedBytes() : 0;
    if (this.sackOn && seg.sack !== undefined) this.updateScoreboard(seg.sack);
    // An ACK that SACKs new data reports a hole even if the peer's window moved meanwhile (RFC 6675
    // counts those as duplicates; Linux's receive-window autotuning changes the window all the time).
    const sackGrew = this.sackOn && this.sackedBytes() > sackedBefore;

    if (seqGt(ack, this.sndUna)) {
      this.ackAdvanced(seg, ack);
    } else if (
      ack === this.sndUna &&
      seg.payload.length === 0 &&
      !(seg.flags & FIN) &&
      (window === this.sndWnd || sackGrew) &&
      this.sndMax !== this.sndUna
    ) {
      this.dupAck(sackGrew);
    }
    if (sackGrew && this.rexmitMarks.size > 0) this.detectLostRetransmission();
    // An ACK that moves SND.UNA can still show the new SND.UNA lost (its successors SACKed): recover
    // now rather than wait for duplicates a small window may never produce.
    if (sackGrew && !this.inRecovery && !seqLt(this.sndUna, this.recover) && this.sackSaysUnaLost()) {
      this.enterFastRecovery();
    }
    // Window update (RFC 9293 §3.10.7.4: SND.WL1/WL2 keep old segments from moving it).
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      const grew = window > this.sndWnd;
      this.updateSendWindow(window, seg.seq, ack, false);
      if (grew) this.host.markDirty(this);
    }

    // FIN acknowledged?
    const finAcked = this.finQueued && seqGt(this.sndUna, this.finSeq);
    if (finAcked) {
      if (this.state === 'FIN_WAIT_1') this.state = 'FIN_WAIT_2';
      else if (this.state === 'CLOSING') this.enterTimeWait();
      else if (this.state === 'LAST_ACK') {
        this.finish(null, 'CLOSED');
        return false;
      }
    }
    return true;
  }

  private ackAdvanced(seg: TcpSegment, ack: number): void {
    const acked = seqSub(ack, this.sndUna);
    // RTT sample (RFC 7323 §4.1 with timestamps; Karn's algorithm without)
    if (this.tsOn && seg.tsEcr !== undefined && seg.tsEcr !== 0) {
      this.rttSample(seqSub(this.tsNow(), seg.tsEcr));
    } else if (this.rttTime !== NONE && seqGt(ack, this.rttSeq)) {
      this.rttSample(this.now - this.rttTime);
      this.rttTime = NONE;
    }
    this.retries = 0;
    this.persistBackoff = 0;
    this.limitedTransmit = 0;
    if (this.rexmitMarks.size > 0)
      for (const k of this.rexmitMarks.keys()) if (seqLt(k, ack)) this.rexmitMarks.delete(k);
    // Bytes of data acknowledged (the SYN and FIN take a sequence number but no buffer space).
    let dataAcked = acked;
    if (seqLe(this.sndUna, this.iss)) dataAcked--; // SYN
    if (this.finQueued && seqGt(ack, this.finSeq)) dataAcked--; // FIN
    if (dataAcked > 0) {
      this.sndQueue.trim(Math.min(dataAcked, this.sndQueue.length));
      this.sndQueueSeq = seqAdd(this.sndQueueSeq, dataAcked);
    }
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    while (this.sacked.length > 0 && seqLe(this.sacked[1], ack)) this.sacked.splice(0, 2);
    if (this.sacked.length > 0 && seqLt(this.sacked[0], ack)) this.sacked[0] = ack;

    // congestion control
    if (this.inRecovery) {
      if (seqGe(ack, this.recover)) {
        // Full ACK: leave recovery with cwnd = ssthresh (RFC 6582 §3.2 step 3, option 1).
        this.inRecovery = false;
        this.cwnd = this.ssthresh;
        this.dupAcks = 0;
      } else {
        // Partial ACK: retransmit the next hole, deflate by what was acked (RFC 6582 §3.2 step 4).
        this.retransmitHoles(1, true);
        if (!this.sackOn) this.cwnd = Math.max(this.cwnd - acked + this.effMss, this.effMss);
        this.armRto();
      }
    } else {
      this.dupAcks = 0;
      if (this.cwnd < this.ssthresh) {
        // Slow start with appropriate byte counting, L = 2·SMSS (RFC 3465, RFC 5681 §3.1)
        this.cwnd += Math.min(acked, 2 * this.effMss);
      } else {
        this.bytesAckedCa += acked;
        if (this.bytesAckedCa >= this.cwnd) {
          this.bytesAckedCa -= this.cwnd;
          this.cwnd += this.effMss;
        }
      }
    }
    // RFC 6298 (5.2)/(5.3): stop the timer when everything is acked, else restart it.
    this.tlpOut = false;
    if (this.sndUna === this.sndMax) {
      this.rtoAt = NONE;
      this.tlpAt = NONE;
    } else {
      this.armRto();
      this.armTlp();
    }
    if (this.sndQueue.length < this.cfg.sndBuffer) this.onDrain();
    this.host.markDirty(this);
  }

  private dupAck(sackGrew: boolean): void {
    this.dupAcks++;
    if (this.inRecovery) {
      // NewReno inflates cwnd per duplicate (RFC 6582 §3.2 step 3); with SACK the departed segments
      // are subtracted from the pipe instead (RFC 6675), so inflating too would count them twice.
      if (!this.sackOn) this.cwnd += this.effMss;
      this.retransmitHoles(1, false);
      this.host.markDirty(this);
      return;
    }
    // The answer to a tail loss probe that still shows a hole: everything below the SACKed data
    // was sent more than a probe timeout ago and is lost (RFC 8985 §7.4's reasoning).
    const probeSaysLost = this.tlpOut && this.sacked.length > 0;
    if (this.dupAcks < this.lossThreshold() && !this.sackSaysUnaLost() && !probeSaysLost) {
      // Limited transmit (RFC 3042): the first two duplicates each let one new segment out, which
      // keeps the ACK clock going so a small window still collects its three duplicates.
      if (this.dupAcks <= 2) {
        this.limitedTransmit = this.dupAcks;
        this.host.markDirty(this);
      }
      return;
    }
    // Fast retransmit, unless the duplicates belong to a window already recovered by RTO (RFC 6582
    // §4.1) — except when they SACK new data: then they report a real hole (a lost retransmission),
    // not our own go-back-N duplicates, and waiting for another RTO would only stall.
    if (seqLt(this.sndUna, this.recover) && !sackGrew) return;
    this.enterFastRecovery();
  }

  /**
   * Duplicates needed to call the segment at SND.UNA lost: 3, or — early retransmit (RFC 5827) — one
   * less than the segments outstanding when fewer than 4 are and nothing new is waiting to go.
   */
  private lossThreshold(): number {
    const outstanding = Math.ceil(seqSub(this.sndMax, this.sndUna) / this.effMss);
    const unsent = seqSub(seqAdd(this.sndQueueSeq, this.sndQueue.length), this.sndMax) > 0;
    return outstanding < 4 && !unsent ? Math.max(1, outstanding - 1) : 3;
  }

  /** RFC 6675 IsLost(SND.UNA): enough SACKed data above it (counted in segments) to rule out reordering. */
  private sackSaysUnaLost(): boolean {
    if (!this.sackOn || this.sacked.length === 0) return false;
    return Math.ceil(this.sackedBytes() / this.effMss) >= this.lossThreshold();
  }

  private enterFastRecovery(): void {
    const flight = seqSub(this.sndMax, this.sndUna);
    this.ssthresh = Math.max(flight >> 1, 2 * this.effMss);
    this.recover = this.sndMax;
    this.inRecovery = true;
    this.limitedTransmit = 0;
    this.rexmitNext = this.sndUna;
    this.counters.fastRetransmits++;
    this.retransmitHoles(1, true);
    this.cwnd = this.sackOn ? this.ssthresh : this.ssthresh + 3 * this.effMss;
    this.armRto();
    this.host.markDirty(this);
  }

  /**
   * Retransmits up to `budget` segments from the holes below the highest SACKed byte (or just the
   * first unacknowledged segment without SACK information). `first`: start again at sndUna.
   */
  private retransmitHoles(budget: number, first: boolean): void {
    if (first || seqLt(this.rexmitNext, this.sndUna)) this.rexmitNext = this.sndUna;
    const highSack = this.sacked.length > 0 ? this.sacked[this.sacked.length - 1] : this.sndUna;
    let sent = 0;
    while (sent < budget) {
      let start = this.rexmitNext;
      // skip SACKed ranges
      for (let i = 0; i < this.sacked.length; i += 2) {
        if (seqGe(start, this.sacked[i]) && seqLt(start, this.sacked[i + 1])) start = this.sacked[i + 1];
      }
      const limit = first && sent === 0 ? seqMax(highSack, seqAdd(this.sndUna, 1)) : highSack;
      if (!seqLt(start, limit) || !seqLt(start, this.sndMax)) break;
      let end = seqAdd(start, this.effMss);
      for (let i = 0; i < this.sacked.length; i += 2) {
        if (seqGt(this.sacked[i], start) && seqLt(this.sacked[i], end)) end = this.sacked[i];
      }
      if (seqGt(end, this.sndMax)) end = this.sndMax;
      // The FIN has a sequence number but no byte in the queue.
      const fin = this.finQueued && seqGt(end, this.finSeq);
      if (fin) end = this.finSeq;
      this.sendRange(start, end, true, fin);
      this.rexmitMarks.set(start, this.sndMax);
      this.rexmitNext = fin ? seqAdd(end, 1) : end;
      sent++;
    }
  }

  /**
   * Lost-retransmission detection (the idea of RACK, RFC 8985, for the one hole that matters most):
   * the segment at SND.UNA was retransmitted, and data sent after that retransmission has been SACKed
   * since, yet SND.UNA has not moved — the retransmission was lost too. Resend it now instead of
   * waiting for the retransmission timer (≥ 200 ms, against sub-millisecond overlay RTTs).
   */
  private detectLostRetransmission(): void {
    const mark = this.rexmitMarks.get(this.sndUna);
    if (mark === undefined || this.sacked.length === 0) return;
    if (!seqGt(this.sacked[this.sacked.length - 1], mark)) return;
    let end = seqAdd(this.sndUna, this.effMss);
    if (this.sacked.length > 0 && seqGt(this.sacked[0], this.sndUna) && seqLt(this.sacked[0], end))
      end = this.sacked[0];
    if (seqGt(end, this.sndMax)) end = this.sndMax;
    const fin = this.finQueued && seqGt(end, this.finSeq);
    if (fin) end = this.finSeq;
    this.counters.lostRetransmits++;
    this.sendRange(this.sndUna, end, true, fin);
    this.rexmitMarks.set(this.sndUna, this.sndMax);
    this.armRto();
  }

  /** Moves sndNxt past a SACKed range it sits in; true when it moved. */
  private skipSacked(): boolean {
    for (let i = 0; i < this.sacked.length; i += 2) {
      if (seqGe(this.sndNxt, this.sacked[i]) && seqLt(this.sndNxt, this.sacked[i + 1])) {
        this.sndNxt = this.sacked[i + 1];
        return true;
      }
    }
    return false;
  }

  /** Bytes from seq up to the next SACKed range (or a large number when none follows). */
  private untilNextSacked(seq: number): number {
    for (let i = 0; i < this.sacked.length; i += 2) {
      if (seqGt(this.sacked[i], seq)) return seqSub(this.sacked[i], seq);
    }
    return 0x7fffffff;
  }

  private updateScoreboard(blocks: number[]): void {
    for (let i = 0; i + 1 < blocks.length; i += 2) {
      let l = blocks[i];
      const r = blocks[i + 1];
      if (!seqGt(r, l) || seqLe(r, this.sndUna) || seqGt(r, this.sndMax)) continue; // D-SACK or bogus
      if (seqLt(l, this.sndUna)) l = this.sndUna;
      this.insertRange(l, r);
    }
  }

  private insertRange(l: number, r: number): void {
    insertRange(this.sacked, l, r);
  }

  private sackedBytes(): number {
    let n = 0;
    for (let i = 0; i < this.sacked.length; i += 2) n += seqSub(this.sacked[i + 1], this.sacked[i]);
    return n;
  }

  private updateSendWindow(window: number, seq: number, ack: number, initial: boolean): void {
    this.sndWnd = window;
    this.sndWl1 = seq;
    this.sndWl2 = ack;
    if (initial) return;
    if (window > 0) this.persistAt = NONE;
  }

  private receiveData(seg: TcpSegment): void {
    let seq = seg.seq;
    let data = seg.payload;
    let fin = (seg.flags & FIN) !== 0;
    // Old data again: our ACK was probably lost, so ACK at once.
    if (seqLt(seq, this.rcvNxt)) this.ackAtOnce();
    // Trim what we already have (left) and what is beyond the window (right).
    if (seqLt(seq, this.rcvNxt)) {
      const skip = seqSub(this.rcvNxt, seq);
      if (skip >= data.length) {
        data = data.subarray(data.length);
        if (fin && skip > seg.payload.length) fin = false; // FIN already processed
      } else data = data.subarray(skip);
      seq = this.rcvNxt;
    }
    const room = this.receiveRoom();
    const over = seqSub(seqAdd(seq, data.length), seqAdd(this.rcvNxt, room));
    if (over > 0) {
      data = data.subarray(0, Math.max(0, data.length - over));
      fin = false;
    }
    if (seq === this.rcvNxt) {
      if (data.length > 0) this.deliver(data);
      if (fin) this.receiveFin();
      else if (this.ooo.length > 0) this.drainOoo();
      this.segsSinceAck++;
      // ACK every second full-sized segment at once, otherwise after the delayed-ACK time (RFC 9293
      // §3.8.6.3); a filled hole is acked at once so the sender's recovery ends quickly (RFC 5681 §4.2).
      if (this.ooo.length > 0 || fin || seg.flags & PSH) this.ackAtOnce();
      else if (this.segsSinceAck >= 2) {
        // Only the count asks for this ACK: with ackStretch it may wait while data keeps coming (flush).
        if (!this.ackNow) this.lazyAck = this.cfg.ackStretch > 2;
        this.ackNow = true;
      } else if (this.delackAt === NONE) this.delackAt = this.now + this.cfg.delayedAckMs;
    } else {
      if (data.length > 0 || fin) this.insertOoo(seq, data, fin);
      this.ackAtOnce(); // duplicate ACK with SACK at once (RFC 5681 §4.2)
    }
    this.host.markDirty(this);
  }

  private deliver(data: Buffer): void {
    this.rcvNxt = seqAdd(this.rcvNxt, data.length);
    this.unread += data.length;
    this.counters.bytesReceived += data.length;
    this.onData(data);
  }

  private insertOoo(seq: number, data: Buffer, fin: boolean): void {
    const q = this.ooo;
    this.lastOooSeq = seq;
    // Search from the end: a new out-of-order segment usually extends the highest block.
    let i = q.length;
    while (i > 0 && seqGe(q[i - 1].seq, seq)) i--;
    // Trim against the previous entry and drop entries this one covers entirely.
    if (i > 0) {
      const prev = q[i - 1];
      const prevEnd = seqAdd(prev.seq, prev.data.length);
      if (seqGe(prevEnd, seqAdd(seq, data.length)) && !fin) return;
      if (seqGt(prevEnd, seq)) {
        const cut = Math.min(seqSub(prevEnd, seq), data.length);
        data = data.subarray(cut);
        seq = prevEnd;
      }
    }
    const end = seqAdd(seq, data.length);
    while (i < q.length && seqLe(seqAdd(q[i].seq, q[i].data.length), end) && !q[i].fin) q.splice(i, 1);
    if (i < q.length && seqLt(q[i].seq, end)) data = data.subarray(0, seqSub(q[i].seq, seq));
    if (data.length === 0 && !fin) return;
    q.splice(i, 0, { seq, data, fin });
    insertRange(this.oooRanges, seq, seqAdd(end, fin ? 1 : 0));
  }

  private drainOoo(): void {
    const q = this.ooo;
    let k = 0;
    for (; k < q.length && seqLe(q[k].seq, this.rcvNxt); k++) {
      const e = q[k];
      const skip = seqSub(this.rcvNxt, e.seq);
      if (skip < e.data.length) this.deliver(skip === 0 ? e.data : e.data.subarray(skip));
      if (e.fin && seqAdd(e.seq, e.data.length) === this.rcvNxt) {
        this.receiveFin();
        q.length = 0;
        this.oooRanges.length = 0;
        return;
      }
    }
    if (k > 0) q.splice(0, k);
    const r = this.oooRanges;
    while (r.length > 0 && seqLe(r[1], this.rcvNxt)) r.splice(0, 2);
    if (r.length > 0 && seqLt(r[0], this.rcvNxt)) r[0] = this.rcvNxt;
  }

  private receiveFin(): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackAtOnce();
    if (this.state === 'ESTABLISHED') this.state = 'CLOSE_WAIT';
    else if (this.state === 'FIN_WAIT_1') {
      if (seqGt(this.sndUna, this.finSeq)) this.enterTimeWait();
      else this.state = 'CLOSING';
    } else if (this.state === 'FIN_WAIT_2') this.enterTimeWait();
    this.onEnd();
  }

  private enterTimeWait(): void {
    this.state = 'TIME_WAIT';
    this.rtoAt = NONE;
    this.tlpAt = NONE;
    this.persistAt = NONE;
    this.keepaliveAt = NONE;
    this.timeWaitAt = this.now + this.cfg.timeWaitMs;
    // The owner hands a connection in TIME_WAIT over to a compact record at its next flush (after
    // the ACK of the peer's FIN has left): ask for one.
    this.host.markDirty(this);
    this.notifyClose(null);
  }

  /** Free space in the receive buffer: what the window may cover from rcvNxt. */
  private receiveRoom(): number {
    return Math.max(0, this.cfg.rcvBuffer - this.unread);
  }

  // ===================================================================== output

  /** Send what is due: data the windows allow, a pending ACK. Called by the owner after a batch. */
  flush(now: number): void {
    this.now = now;
    if (this.state === 'CLOSED' || this.state === 'SYN_SENT' || this.detached) return;
    if (this.state === 'SYN_RECEIVED') return;
    const sent = this.sendData();
    if (!sent && this.ackNow) {
      // A stretch ACK (ackStretch): while segments keep arriving, the ACK that only the segment count
      // asks for waits for the next flush, once per new arrival and up to ackStretch segments; a flush
      // that finds nothing new since sends it. The host must then flush us again after the next batch.
      if (
        this.lazyAck &&
        this.segsSinceAck < this.cfg.ackStretch &&
        this.segsSinceAck !== this.lazyAckSegs &&
        this.host.flushLater !== undefined
      ) {
        this.lazyAckSegs = this.segsSinceAck;
        this.host.flushLater(this);
        return;
      }
      this.sendAck();
    }
  }

  /** An ACK that must leave with the next flush (not a stretchable one). */
  private ackAtOnce(): void {
    this.ackNow = true;
    this.lazyAck = false;
  }

  private canSendData(): boolean {
    return (
      this.state === 'ESTABLISHED' ||
      this.state === 'CLOSE_WAIT' ||
      this.state === 'FIN_WAIT_1' ||
      this.state === 'LAST_ACK' ||
      this.state === 'CLOSING'
    );
  }

  /** Sends new data (and FIN) within min(cwnd, peer window). Returns true when anything was sent. */
  private sendData(): boolean {
    if (!this.canSendData()) return false;
    let sent = false;
    const queueEnd = seqAdd(this.sndQueueSeq, this.sndQueue.length);
    // What the congestion window limits is the data still in the network: SACKed bytes have left it
    // (RFC 6675 "pipe", without its lost-segment estimate). In recovery this lets new data out, whose
    // SACKs are what reveals a lost retransmission before the timer does.
    const sacked = this.sacked.length > 0 ? this.sackedBytes() : 0;
    for (;;) {
      const win = Math.min(this.cwnd + this.limitedTransmit * this.effMss, this.sndWnd);
      const flight = seqSub(this.sndNxt, this.sndUna);
      const pipe = flight - (seqLt(this.sndNxt, this.sndMax) ? 0 : sacked);
      // The peer's window still bounds everything outstanding, SACKed or not.
      const usable = Math.min(win - pipe, this.sndWnd - flight);
      const avail = seqSub(queueEnd, this.sndNxt);
      if (avail > 0) {
        if (usable <= 0) break;
        // Resending after a timeout: skip what the peer SACKed, stop short of the next SACKed range.
        if (seqLt(this.sndNxt, this.sndMax) && this.sacked.length > 0 && this.skipSacked()) continue;
        let len = Math.min(avail, usable, this.effMss);
        if (seqLt(this.sndNxt, this.sndMax)) len = Math.min(len, this.untilNextSacked(this.sndNxt));
        // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): no small segment while data is in flight
        // and more is waiting, unless it finishes the queue.
        if (len < this.effMss && len < avail && flight > 0 && !seqLt(this.sndNxt, this.sndMax)) break;
        if (len <= 0) break;
        const end = seqAdd(this.sndNxt, len);
        // The last data segment carries FIN when the application has ended its side.
        const withFin = this.finQueued && end === this.finSeq;
        this.sendRange(this.sndNxt, end, seqLt(this.sndNxt, this.sndMax), withFin);
        this.sndNxt = withFin ? seqAdd(end, 1) : end;
        if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
        sent = true;
        if (withFin) break;
        continue;
      }
      if (this.finQueued && this.sndNxt === this.finSeq) {
        this.sendRange(this.finSeq, this.finSeq, seqLt(this.finSeq, this.sndMax), true);
        this.sndNxt = seqAdd(this.finSeq, 1);
        if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
        sent = true;
      }
      break;
    }
    if (sent && this.rtoAt === NONE) this.armRto();
    if (sent) this.armTlp();
    // Persist timer: data waiting, nothing in flight, window closed.
    const waiting = seqSub(queueEnd, this.sndNxt) > 0 || (this.finQueued && this.sndNxt === this.finSeq);
    if (waiting && this.sndWnd === 0 && this.sndUna === this.sndMax && this.persistAt === NONE) {
      this.persistAt = this.now + this.persistInterval();
    }
    return sent;
  }

  /**
   * Sends the sequence range [start, end) from the send queue (start === end: a bare FIN at finSeq).
   * FIN is set when the range reaches finSeq.
   */
  private sendRange(start: number, end: number, rexmit: boolean, fin: boolean): void {
    const len = seqSub(end, start);
    let payload: Buffer | null = null;
    if (len > 0) payload = this.sndQueue.peek(seqSub(start, this.sndQueueSeq), len);
    const h = this.h;
    h.seq = start;
    h.flags = fin ? ACK | FIN : ACK;
    if (len > 0 && end === seqAdd(this.sndQueueSeq, this.sndQueue.length)) h.flags |= PSH;
    if (rexmit) {
      this.counters.retransmits++;
      if (this.rttTime !== NONE && seqLt(start, seqAdd(this.rttSeq, 1)) && seqGt(end, start))
        this.rttTime = NONE;
    } else if (!this.tsOn && this.rttTime === NONE && len > 0) {
      this.rttSeq = start;
      this.rttTime = this.now;
    }
    this.counters.bytesSent += len;
    this.fillAckFields();
    this.emit(payload);
  }

  private fillAckFields(): void {
    const h = this.h;
    h.ack = this.rcvNxt;
    const room = this.receiveRoom();
    let edge = seqAdd(this.rcvNxt, room);
    // Never move the right edge left (RFC 9293 §3.8.6.2.2 "shrinking the window"), and move it right
    // only in steps of min(buffer/2, MSS) (receiver SWS avoidance).
    if (seqLt(edge, this.rcvAdvEdge)) edge = this.rcvAdvEdge;
    else if (
      seqSub(edge, this.rcvAdvEdge) < Math.min(this.cfg.rcvBuffer >> 1, this.effMss) &&
      seqGe(this.rcvAdvEdge, this.rcvNxt)
    ) {
      edge = this.rcvAdvEdge;
    }
    let wnd = seqSub(edge, this.rcvNxt);
    if (wnd < 0) wnd = 0;
    const field = Math.min(wnd >>> this.rcvWndShift, 0xffff);
    h.window = field;
    this.rcvAdvEdge = seqAdd(this.rcvNxt, field << this.rcvWndShift);
    if (this.tsOn) {
      h.tsVal = this.tsNow();
      h.tsEcr = this.tsRecent;
    } else {
      h.tsVal = undefined;
      h.tsEcr = undefined;
    }
    h.sack = this.sackOn && this.oooRanges.length > 0 ? this.sackBlocks() : undefined;
    this.lastAckSent = this.rcvNxt;
    this.ackNow = false;
    this.lazyAck = false;
    this.lazyAckSegs = -1;
    this.segsSinceAck = 0;
    this.delackAt = NONE;
  }

  private sackBlocks(): number[] {
    // Merge adjacent out-of-order entries into blocks; the block holding the latest arrival first
    // (RFC 2018 §4), then the highest others, at most 3 with timestamps on.
    const blocks = this.oooRanges;
    if (blocks.length === 0) return [];
    let first = 0;
    for (let i = 0; i < blocks.length; i += 2) {
      if (seqGe(this.lastOooSeq, blocks[i]) && seqLt(this.lastOooSeq, blocks[i + 1])) first = i;
    }
    const out = [blocks[first], blocks[first + 1]];
    for (let i = blocks.length - 2; i >= 0 && out.length < 6; i -= 2) {
      if (i !== first) out.push(blocks[i], blocks[i + 1]);
    }
    return out;
  }

  private sendAck(): void {
    const h = this.h;
    h.seq = this.sndNxt;
    h.flags = ACK;
    this.fillAckFields();
    this.emit(null);
  }

  /** A bare RST (no options, zero window); with `ack`, RST|ACK (a synchronized connection's reset). */
  private sendReset(seq: number, ack?: number): void {
    const h = this.h;
    h.seq = seq;
    h.ack = ack ?? 0;
    h.flags = ack === undefined ? RST : RST | ACK;
    h.window = 0;
    h.tsVal = undefined;
    h.tsEcr = undefined;
    h.sack = undefined;
    this.emit(null);
  }

  /** A segment the peer must answer with an ACK: seq = SND.UNA − 1, no data (keepalive / window probe). */
  private sendProbe(): void {
    this.counters.probes++;
    const h = this.h;
    h.seq = seqAdd(this.sndUna, -1);
    h.flags = ACK;
    this.fillAckFields();
    this.emit(null);
  }

  private emit(payload: Buffer | null): void {
    this.counters.segmentsSent++;
    this.host.transmit(this, this.h, payload);
  }

  // ===================================================================== timers

  /** The earliest time this connection wants `tick`, or -1 when it needs none. */
  nextDeadline(): number {
    let t = earlier(NONE, this.rtoAt);
    t = earlier(t, this.persistAt);
    t = earlier(t, this.delackAt);
    t = earlier(t, this.timeWaitAt);
    t = earlier(t, this.tlpAt);
    return earlier(t, this.keepaliveAt);
  }

  tick(now: number): void {
    this.now = now;
    if (this.detached) return;
    if (this.timeWaitAt !== NONE && now >= this.timeWaitAt) {
      this.timeWaitAt = NONE;
      this.finish(null, 'CLOSED');
      return;
    }
    if (this.rtoAt !== NONE && now >= this.rtoAt) this.onRtoTimeout();
    if (this.state === 'CLOSED') return;
    if (this.persistAt !== NONE && now >= this.persistAt) {
      this.persistAt = NONE;
      if (this.sndWnd === 0) {
        this.persistBackoff++;
        if (this.persistBackoff > this.cfg.maxRetries) {
          this.fail('timeout', 'peer kept its window closed and stopped answering probes');
          return;
        }
        this.sendProbe();
        this.persistAt = now + this.persistInterval();
      }
    }
    if (this.tlpAt !== NONE && now >= this.tlpAt) this.onTailLossProbe();
    if (this.delackAt !== NONE && now >= this.delackAt) {
      this.delackAt = NONE;
      this.ackAtOnce();
      this.host.markDirty(this);
    }
    if (this.keepaliveAt !== NONE && now >= this.keepaliveAt && this.cfg.keepalive !== null) {
      const ka = this.cfg.keepalive;
      if (this.keepaliveProbes >= ka.probes) {
        this.fail('keepalive-timeout', 'peer stopped answering keepalive probes');
        return;
      }
      this.keepaliveProbes++;
      this.sendProbe();
      this.keepaliveAt = now + ka.intervalMs;
    }
  }

  private persistInterval(): number {
    return Math.min(this.rto * 2 ** Math.min(this.persistBackoff, 16), this.cfg.rtoMaxMs);
  }

  private onRtoTimeout(): void {
    this.tlpAt = NONE;
    this.tlpOut = false;
    this.rtoAt = NONE;
    this.counters.timeouts++;
    this.retries++;
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED') {
      if (this.retries > this.cfg.synRetries) {
        this.fail('timeout', 'connection timed out (no answer to SYN)');
        return;
      }
      this.rto = Math.min(this.rto * 2, this.cfg.rtoMaxMs);
      this.rttTime = NONE;
      this.counters.retransmits++;
      this.sendSyn(this.state === 'SYN_RECEIVED');
      this.armRto();
      return;
    }
    if (this.sndUna === this.sndMax) return;
    if (this.retries > this.cfg.maxRetries) {
      this.fail('timeout', 'connection timed out (retransmission limit)');
      return;
    }
    // RFC 5681 (4), RFC 6298 (5.5)-(5.6): collapse to one segment, back off, resend from SND.UNA.
    const flight = seqSub(this.sndMax, this.sndUna);
    if (!this.inRecovery || this.retries === 1) this.ssthresh = Math.max(flight >> 1, 2 * this.effMss);
    this.cwnd = this.effMss;
    this.bytesAckedCa = 0;
    this.inRecovery = false;
    this.dupAcks = 0;
    this.recover = this.sndMax;
    this.rexmitMarks.clear();
    // Keep the SACK scoreboard through the first timeout so go-back-N resends only the holes; a second
    // timeout in a row drops it, in case the receiver reneged on what it SACKed (RFC 2018 §8).
    if (this.retries > 1) this.sacked.length = 0;
    this.rto = Math.min(this.rto * 2, this.cfg.rtoMaxMs);
    this.rttTime = NONE;
    this.sndNxt = this.sndUna;
    // Go back N: sendData retransmits from SND.UNA as the window reopens.
    this.sendData();
    if (this.rtoAt === NONE) this.armRto();
  }

  private armRto(): void {
    this.rtoAt = this.now + this.rto;
  }

  /**
   * Tail loss probe (RFC 8985 §7): when a flight gets no ACK for about two RTTs, send one segment
   * (new data, or the last one again) so the receiver's answer — a SACK — starts fast recovery. On
   * the overlay an RTT is ~1 ms and the RTO 200 ms, so without it every lost tail (or a lost whole
   * small window) costs 200 ms of silence and a collapse to one segment.
   */
  private armTlp(): void {
    // Not in recovery, not twice for one flight, not after a timeout until an ACK makes progress.
    if (
      this.inRecovery ||
      this.tlpOut ||
      this.retries > 0 ||
      this.srtt === 0 ||
      this.sndUna === this.sndMax
    ) {
      this.tlpAt = NONE;
      return;
    }
    let pto = Math.max(2 * this.srtt, 10);
    // A single segment in flight may be waiting for a delayed ACK.
    if (seqSub(this.sndMax, this.sndUna) <= this.effMss)
      pto = Math.max(pto, 1.5 * this.srtt + this.cfg.delayedAckMs * 2);
    const at = this.now + pto;
    this.tlpAt = this.rtoAt !== NONE && at >= this.rtoAt ? NONE : at;
  }

  private onTailLossProbe(): void {
    this.tlpAt = NONE;
    if (this.inRecovery || this.sndUna === this.sndMax || !this.isSynchronized()) return;
    this.tlpOut = true;
    this.counters.tailLossProbes++;
    const queueEnd = seqAdd(this.sndQueueSeq, this.sndQueue.length);
    if (
      seqLt(this.sndNxt, queueEnd) &&
      this.sndNxt === this.sndMax &&
      this.sndWnd > seqSub(this.sndMax, this.sndUna)
    ) {
      this.limitedTransmit++; // one new segment beyond cwnd
      this.sendData();
    } else {
      let end = this.sndMax;
      const fin = this.finQueued && seqGt(end, this.finSeq);
      if (fin) end = this.finSeq;
      let start = seqAdd(end, -this.effMss);
      if (seqLt(start, this.sndUna)) start = this.sndUna;
      this.sendRange(start, end, true, fin);
    }
    this.armRto();
  }

  private armKeepalive(): void {
    if (this.cfg.keepalive === null) return;
    this.keepaliveAt = this.now + this.cfg.keepalive.idleMs;
  }

  private rttSample(r: number): void {
    if (r < 0) return;
    if (this.srtt === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    const g = 1; // clock granularity: 1 ms
    this.rto = Math.min(
      Math.max(this.srtt + Math.max(g, 4 * this.rttvar), this.cfg.rtoMinMs),
      this.cfg.rtoMaxMs,
    );
  }

  get smoothedRtt(): number {
    return this.srtt;
  }

  get retransmissionTimeout(): number {
    return this.rto;
  }

  private tsNow(): number {
    return (Math.floor(this.now) + this.tsOffset) >>> 0;
  }

  private fail(code: TcpErrorCode, message: string): void {
    // Tell the peer we are gone (RFC 9293 R2 "close the connection"), then report.
    if (this.isSynchronized() || this.state === 'SYN_RECEIVED') {
      this.sendReset(this.sndNxt, this.rcvNxt);
    }
    this.finish(new TcpError(code, message), 'CLOSED');
  }

  private finish(error: TcpError | null, state: 'CLOSED'): void {
    this.state = state;
    this.rtoAt = NONE;
    this.tlpAt = NONE;
    this.persistAt = NONE;
    this.delackAt = NONE;
    this.timeWaitAt = NONE;
    this.keepaliveAt = NONE;
    this.ooo.length = 0;
    this.oooRanges.length = 0;
    if (error !== null) this.error = error;
    this.notifyClose(error);
    this.host.closed(this);
  }

  private notifyClose(error: TcpError | null): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.onClose(error);
  }
}

function inWindow(seq: number, start: number, size: number): boolean {
  return seqGe(seq, start) && seqLt(seq, seqAdd(start, size));
}

/** Adds [l, r) to a sorted list of disjoint [l, r) pairs, merging what touches or overlaps. */
function insertRange(s: number[], l: number, r: number): void {
  let i = 0;
  while (i < s.length && seqLt(s[i + 1], l)) i += 2;
  let j = i;
  while (j < s.length && seqLe(s[j], r)) {
    if (seqLt(s[j], l)) l = s[j];
    if (seqGt(s[j + 1], r)) r = s[j + 1];
    j += 2;
  }
  s.splice(i, j - i, l, r);
}

function earlier(a: number, b: number): number {
  if (b === NONE) return a;
  return a === NONE || b < a ? b : a;
}

function noop(): void {}
