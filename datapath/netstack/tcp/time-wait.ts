// TIME_WAIT as a compact record, like Linux's inet_timewait_sock. After the active closer's ACK of
// the peer's FIN, nothing of the connection is needed but what answers the few segments that can
// still arrive for its 4-tuple: the sequence numbers to re-ACK a retransmitted FIN (RFC 9293
// §3.10.7.4), the peer's last timestamp and next sequence number to judge a new SYN (RFC 9293 §3.6.1,
// RFC 6191), and the expiry (2·MSL). A proxy that opens 1,000 connections a second holds ~60,000 of
// these; as full connections (buffers, scoreboard, the stream behind their callbacks) they were
// most of the datapath's memory and every tick scanned them all.
//
// Records expire in the order they were created (one 2·MSL for all, a monotonic clock), so the table
// keeps them in a list in expiry order: expiring is a look at the head, and a restarted timer moves
// its record to the tail. Pure: no I/O, the time is an argument.
import { ACK, FIN, RST, SYN, type TcpSegment } from './segment.ts';
import { seqAdd, seqGt, seqLt } from './seq.ts';

export class TimeWaitRecord {
  readonly key: string;
  readonly localAddress: Uint8Array;
  readonly localPort: number;
  readonly remoteAddress: Uint8Array;
  readonly remotePort: number;
  /** Our next sequence number: SND.NXT after our FIN. */
  readonly sndNxt: number;
  /** The peer's next sequence number: RCV.NXT after its FIN. */
  readonly rcvNxt: number;
  /** The window field our re-ACKs carry (already scaled). */
  readonly window: number;
  /** Timestamps were negotiated; our clock offset and the peer's last timestamp. */
  readonly tsOn: boolean;
  readonly tsOffset: number;
  tsRecent: number;
  /** When we last heard from the peer (its FIN, or a retransmission of it). */
  lastHeardAt: number;
  expiresAt: number;
  prev: TimeWaitRecord | null = null;
  next: TimeWaitRecord | null = null;

  constructor(
    key: string,
    ends: { localAddress: Uint8Array; localPort: number; remoteAddress: Uint8Array; remotePort: number },
    seq: { sndNxt: number; rcvNxt: number; window: number },
    ts: { on: boolean; offset: number; recent: number },
    now: number,
    expiresAt: number,
  ) {
    this.key = key;
    this.localAddress = ends.localAddress;
    this.localPort = ends.localPort;
    this.remoteAddress = ends.remoteAddress;
    this.remotePort = ends.remotePort;
    this.sndNxt = seq.sndNxt;
    this.rcvNxt = seq.rcvNxt;
    this.window = seq.window;
    this.tsOn = ts.on;
    this.tsOffset = ts.offset;
    this.tsRecent = ts.recent;
    this.lastHeardAt = now;
    this.expiresAt = expiresAt;
  }

  /** Our timestamp clock at `now` (the connection's, continued). */
  tsVal(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }
}

/**
 * May a SYN on a 4-tuple in TIME_WAIT start a new incarnation? Yes when it cannot be an old
 * duplicate: its timestamp is newer than the last one seen, or (without timestamps) its sequence
 * number is beyond the old connection's (RFC 9293 §3.6.1, RFC 6191).
 */
export function canReincarnate(tsOn: boolean, tsRecent: number, rcvNxt: number, syn: TcpSegment): boolean {
  if (tsOn && syn.tsVal !== undefined) return seqGt(syn.tsVal, tsRecent);
  return seqGt(syn.seq, rcvNxt);
}

/** What to do with a segment for a 4-tuple in TIME_WAIT. */
export type TimeWaitAction =
  | 'drop' // nothing to answer
  | 'ack' // answer with our ACK (seq SND.NXT, ack RCV.NXT)
  | 'ack-restart' // the peer's FIN again: our ACK was lost; ACK and restart 2·MSL
  | 'new-incarnation'; // a new connection's SYN: forget the record, let a listener take it

export function timeWaitInput(tw: TimeWaitRecord, seg: TcpSegment, now: number): TimeWaitAction {
  const flags = seg.flags;
  // RFC 1337: a RST must not end TIME_WAIT (an old duplicate could then open a new incarnation).
  if (flags & RST) return 'drop';
  if ((flags & (SYN | ACK)) === SYN) {
    if (canReincarnate(tw.tsOn, tw.tsRecent, tw.rcvNxt, seg)) return 'new-incarnation';
    return 'ack'; // an old SYN, or one that cannot be told from one: our ACK lets the peer sort it out
  }
  // PAWS (RFC 7323 §5.3): an old duplicate is answered with an ACK and changes nothing.
  if (tw.tsOn && seg.tsVal !== undefined && seqLt(seg.tsVal, tw.tsRecent)) return 'ack';
  if (flags & FIN) {
    // "The only thing that can arrive in this state is a retransmission of the remote FIN.
    // Acknowledge it, and restart the 2 MSL timeout." (RFC 9293 §3.10.7.4)
    if (tw.tsOn && seg.tsVal !== undefined) tw.tsRecent = seg.tsVal;
    tw.lastHeardAt = now;
    return 'ack-restart';
  }
  // A bare duplicate ACK at RCV.NXT needs no answer (answering ACKs with ACKs could loop); anything
  // else — data, a segment outside the window — is answered with an ACK (RFC 9293 §3.10.7.4).
  if (seg.payload.length === 0 && seg.seq === tw.rcvNxt && flags & ACK) return 'drop';
  return 'ack';
}

/**
 * May an outgoing connection take over this 4-tuple before 2·MSL (Linux's tcp_tw_reuse)? Only with
 * timestamps, and only when the peer has been silent for `delayMs` (Linux: 1 s): the new
 * connection's timestamps then start above everything of the old one on both sides, so PAWS drops
 * the old incarnation's duplicates at either end.
 */
export function canReuseForConnect(tw: TimeWaitRecord, now: number, delayMs = 1000): boolean {
  return tw.tsOn && now - tw.lastHeardAt >= delayMs;
}

/**
 * The ISN of a connection that reuses a TIME_WAIT 4-tuple: ours (RFC 6528) when it is already
 * beyond the old connection's sequence space with a window's margin, otherwise just past it, as
 * Linux does (SND.NXT + 65535 + 2), so no old segment of ours can fall into the new window.
 */
export function reuseIss(tw: TimeWaitRecord, iss: number): number {
  const floor = seqAdd(tw.sndNxt, 65537);
  return seqGt(iss, floor) ? iss >>> 0 : floor;
}

/** The records by 4-tuple key, in a list ordered by expiry. */
export class TimeWaitTable {
  private readonly byKey = new Map<string, TimeWaitRecord>();
  private head: TimeWaitRecord | null = null;
  private tail: TimeWaitRecord | null = null;

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): TimeWaitRecord | undefined {
    return this.byKey.get(key);
  }

  /** Adds a record (replacing one with the same key). */
  add(tw: TimeWaitRecord): void {
    const old = this.byKey.get(tw.key);
    if (old !== undefined) this.delete(old);
    this.byKey.set(tw.key, tw);
    this.link(tw);
  }

  delete(tw: TimeWaitRecord): void {
    if (this.byKey.get(tw.key) !== tw) return;
    this.byKey.delete(tw.key);
    this.unlink(tw);
  }

  /** Moves a record's expiry (later, after a retransmitted FIN). */
  restart(tw: TimeWaitRecord, expiresAt: number): void {
    this.unlink(tw);
    tw.expiresAt = expiresAt;
    this.link(tw);
  }

  /** The earliest expiry, or -1. */
  nextExpiry(): number {
    return this.head === null ? -1 : this.head.expiresAt;
  }

  /** Removes the records expired at `now`; returns how many. Looks at nothing that has not expired. */
  expire(now: number): number {
    let n = 0;
    while (this.head !== null && this.head.expiresAt <= now) {
      this.delete(this.head);
      n++;
    }
    return n;
  }

  clear(): void {
    this.byKey.clear();
    this.head = null;
    this.tail = null;
  }

  values(): IterableIterator<TimeWaitRecord> {
    return this.byKey.values();
  }

  private link(tw: TimeWaitRecord): void {
    // Almost always the tail: expiries are now + 2·MSL on a monotonic clock. Walk back otherwise.
    let after = this.tail;
    while (after !== null && after.expiresAt > tw.expiresAt) after = after.prev;
    tw.prev = after;
    tw.next = after === null ? this.head : after.next;
    if (tw.next !== null) tw.next.prev = tw;
    else this.tail = tw;
    if (after !== null) after.next = tw;
    else this.head = tw;
  }

  private unlink(tw: TimeWaitRecord): void {
    if (tw.prev !== null) tw.prev.next = tw.next;
    else if (this.head === tw) this.head = tw.next;
    if (tw.next !== null) tw.next.prev = tw.prev;
    else if (this.tail === tw) this.tail = tw.prev;
    tw.prev = null;
    tw.next = null;
  }
}
