// Reading the rest of a burst of datagrams from a connected UDP socket in one go.
//
// Node hands every received datagram to JavaScript on its own: libuv reads it into a fresh 64 KiB
// allocation that Node shrinks to the datagram, wraps it in an ArrayBuffer (tracked by the garbage
// collector one by one), builds an address object and calls into JavaScript. On a bulk download
// through the overlay that is ~800,000 datagrams per GB. When libuv delivers a second datagram in
// the same event-loop turn, the socket has a burst queued; the rest of it is then read here with
// read(2) on the socket's descriptor (the socket is connected, so every datagram is the peer's and
// no address is needed), into one reused buffer, and copied out into a buffer of its own. On the
// overlay bench that took 13-29 % off the datapath's CPU per GB (docs/performance.md, overlay, fifth
// round).
//
// A single datagram (a handshake, a CONNECT's SYN-ACK) is not affected: draining starts with the
// second datagram of a turn, so an idle socket never pays the failed read that ends a drain.
import type dgram from 'node:dgram';
import { readSync } from 'node:fs';

/** The largest UDP payload: a read never truncates a datagram. */
const MAX_DATAGRAM = 65_536;

/**
 * Datagrams read after each one libuv delivers, at most (libuv itself delivers up to 32 per poll
 * before the loop turns). Bounded so that a flood still lets timers and the client sockets run; and the
 * bound is also what made the turns the right size: on the 8-stream bench 16 beat 4 and 8 (less
 * throughput) and 64 (less throughput, ~10 MiB more peak RSS).
 */
export const DRAIN_LIMIT = 16;

/**
 * The descriptor of a dgram socket, or null. Node has no public accessor for it; the handle's `fd`
 * is internal, so any change in Node leaves the device on its normal per-datagram path.
 */
export function udpSocketFd(socket: dgram.Socket): number | null {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (state === undefined) return null;
  const handle = (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[state]
    ?.handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

export class BurstReader {
  readonly #fd: number;
  readonly #scratch = Buffer.allocUnsafeSlow(MAX_DATAGRAM);
  #inTurn = false;
  #closed = false;
  /** Off until the owner connects the socket: only then is a burst one sender's. */
  enabled = false;
  /** Drains started: bursts detected (stats and tests). */
  bursts = 0;
  /** Datagrams read here rather than by libuv (stats and tests). */
  drained = 0;
  /** Reads that failed with anything but EAGAIN (e.g. ECONNREFUSED after an ICMP error). */
  errors = 0;

  constructor(fd: number) {
    this.#fd = fd;
  }

  readonly #endTurn = (): void => {
    this.#inTurn = false;
  };

  /**
   * Call after each datagram Node delivered. From the second one of an event-loop turn on, reads
   * up to DRAIN_LIMIT more and hands each to `deliver` in arrival order, as its own buffer (while
   * `enabled`).
   */
  afterDatagram(deliver: (datagram: Buffer) => void): void {
    if (!this.#inTurn) {
      this.#inTurn = true;
      setImmediate(this.#endTurn);
      return;
    }
    if (this.#closed || !this.enabled) return;
    this.bursts++;
    for (let i = 0; i < DRAIN_LIMIT && !this.#closed; i++) {
      let n: number;
      // The read that finds the queue empty throws EAGAIN, once per drain: without a stack trace
      // that costs half as much (1.7 against 3.1 µs here). Restored before anything else runs.
      const traceLimit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        n = readSync(this.#fd, this.#scratch, 0, MAX_DATAGRAM, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') this.errors++;
        return;
      } finally {
        Error.stackTraceLimit = traceLimit;
      }
      // Its own exact-size memory, as Node's datagrams have: a datagram the netstack keeps (unread
      // or out-of-order data) pins nothing else. (Pooled slices were 4-8 % faster on 8 streams, with
      // 8-12 MiB more peak RSS.)
      const datagram = Buffer.allocUnsafeSlow(n);
      this.#scratch.copy(datagram, 0, 0, n);
      this.drained++;
      deliver(datagram);
    }
  }

  /**
   * Call before the socket closes: libuv closes the descriptor at once, and its number may be
   * reused by the next file opened, which a later read must never touch.
   */
  close(): void {
    this.#closed = true;
  }
}
