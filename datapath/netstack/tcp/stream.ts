// A TCP connection as a Node Duplex stream, with flow control in both directions:
//  - read side: what the application has not read yet (readableLength) is reported to the connection
//    as unread bytes, so a slow reader shrinks the advertised window down to zero;
//  - write side: `write` calls back only while the connection's send buffer has room, so a slow peer
//    (small window, congestion) pauses whoever pipes into us.
// `end()` is a half-close (FIN after the queued data); the peer's FIN ends the readable side;
// `destroy()` before both sides finished aborts the connection with RST, and a connection error
// (reset, timeout) destroys the stream with the TcpError.
import { Duplex } from 'node:stream';
import { type TcpConnection, TcpError } from './connection.ts';

export interface TcpStreamOptions {
  /**
   * Received bulk data (a turn that brought at least HOLD_MIN_BYTES) is held while more keeps
   * arriving, up to this many bytes, and pushed on the first event-loop turn that brings nothing new:
   * whoever pipes us into a socket then writes fewer, larger chunks. 0 (default): pushed after the
   * turn it arrived in.
   */
  holdBytes?: number;
}

/** Less than this arriving in a turn is not bulk: pushed at once (a request, a reply, a prompt). */
const HOLD_MIN_BYTES = 8 * 1024;
/**
 * A turn that brought this much for one stream is pushed at once: the stream has the link (mostly)
 * to itself and its writes are large already. Holding pays when streams share the turns.
 */
const HOLD_TURN_BYTES = 32 * 1024;
/** Held data is pushed after this many turns in a row without new data for the stream. */
const HOLD_QUIET_TURNS = 2;

export class TcpStream extends Duplex {
  readonly conn: TcpConnection;
  private pendingWrite: ((err?: Error | null) => void) | null = null;
  private closedByConn = false;

  /** see TcpStreamOptions.holdBytes */
  private readonly holdBytes: number;

  constructor(conn: TcpConnection, opts: TcpStreamOptions = {}) {
    // allowHalfOpen: the proxy relays a FIN one way and keeps the other direction open.
    // The readable high-water mark is at most a quarter of the receive buffer: Node calls _read (our
    // only news that the reader consumed data) once the buffer falls below it, and at that point the
    // window we can reopen must be large, or receiver SWS avoidance would keep it shut for good.
    super({
      allowHalfOpen: true,
      readableHighWaterMark: Math.min(256 * 1024, conn.rcvBufferLimit >> 2),
      writableHighWaterMark: 64 * 1024,
    });
    this.conn = conn;
    this.holdBytes = opts.holdBytes ?? 0;
    // Segments that arrive in one I/O turn are pushed as one chunk after it: whoever pipes us into a
    // socket then makes one write syscall per burst instead of one per 1.4 kB segment (that was the
    // largest item of the overlay profile).
    conn.onData = (data) => {
      this.pending.push(data);
      this.pendingBytes += data.length;
      this.arrivedBytes += data.length;
      if (!this.deliveryScheduled) {
        this.deliveryScheduled = true;
        setImmediate(this.deliverPending);
      }
    };
    conn.onEnd = () => {
      if (this.deliveryScheduled) this.endPending = true;
      else this.push(null);
    };
    conn.onDrain = () => {
      const cb = this.pendingWrite;
      if (cb !== null && conn.sendBuffered < conn.sndBufferLimit) {
        this.pendingWrite = null;
        cb();
      }
    };
    conn.onClose = (err) => {
      this.closedByConn = true;
      const cb = this.pendingWrite;
      this.pendingWrite = null;
      if (err !== null && err.code !== 'aborted') {
        cb?.(err);
        this.destroy(err);
      } else if (err !== null) {
        // We aborted it ourselves (destroy(), or the runtime shutting down): not an error to report.
        cb?.(err);
        this.destroy();
      } else {
        // Orderly close: both FINs exchanged; autoDestroy closes the stream once it has emitted
        // 'end' and 'finish'.
        cb?.();
      }
    };
  }

  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private deliveryScheduled = false;
  private endPending = false;

  /** Bytes that arrived since the last deliverPending (this turn's). */
  private arrivedBytes = 0;
  /** deliverPending calls in a row that found nothing new. */
  private quietTurns = 0;

  private readonly deliverPending = (): void => {
    // Bulk data is held while it keeps arriving (see TcpStreamOptions.holdBytes): one more turn.
    const turn = this.arrivedBytes;
    this.arrivedBytes = 0;
    this.quietTurns = turn > 0 ? 0 : this.quietTurns + 1;
    if (
      this.quietTurns < HOLD_QUIET_TURNS &&
      turn < HOLD_TURN_BYTES &&
      this.pendingBytes < this.holdBytes &&
      this.pendingBytes >= HOLD_MIN_BYTES &&
      !this.endPending &&
      !this.destroyed
    ) {
      setImmediate(this.deliverPending);
      return;
    }
    this.quietTurns = 0;
    this.deliveryScheduled = false;
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.destroyed && chunks.length > 0) {
      this.push(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      this.conn.setUnread(this.readableLength);
    }
    if (this.endPending) {
      this.endPending = false;
      this.push(null);
    }
  };

  get remoteAddressBytes(): Uint8Array {
    return this.conn.remoteAddress;
  }

  override _read(): void {
    // Readable.read() calls _read before it takes the returned bytes out of the buffer: measure after.
    process.nextTick(this.reportUnread);
  }

  private readonly reportUnread = (): void => {
    this.conn.setUnread(this.readableLength + this.pendingBytes);
  };

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.conn.state === 'CLOSED' || this.conn.state === 'TIME_WAIT') {
      cb(this.conn.error ?? new TcpError('aborted', 'write after the connection closed'));
      return;
    }
    if (this.conn.write(chunk)) cb();
    else this.pendingWrite = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.conn.shutdownWrite();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.closedByConn) {
      const orderly = err === null && this.readableEnded && this.writableFinished;
      // An orderly close lets the connection finish its FIN exchange; anything else resets.
      if (!orderly) this.conn.abort();
    }
    cb(err);
  }
}
