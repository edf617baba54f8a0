// Helpers for driving bulk transfers over a SimNetwork in tests.
import { createHash } from 'node:crypto';
import { seededRandom } from '../../../e2e/testing/seeded-random.ts';
import type { TcpConnection } from '../tcp/connection.ts';

export function pseudoRandomBytes(n: number, seed: number): Buffer {
  const r = seededRandom(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) {
    const v = Math.floor(r() * 4294967296);
    b[i] = v & 0xff;
    if (i + 1 < n) b[i + 1] = (v >> 8) & 0xff;
    if (i + 2 < n) b[i + 2] = (v >> 16) & 0xff;
    if (i + 3 < n) b[i + 3] = (v >>> 24) & 0xff;
  }
  return b;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Collects what a connection receives; consumes immediately unless `stalled`. */
export class Sink {
  chunks: Buffer[] = [];
  bytes = 0;
  ended = false;
  closed = false;
  error: Error | null = null;
  stalled = false;
  readonly conn: TcpConnection;
  constructor(conn: TcpConnection) {
    this.conn = conn;
    conn.onData = (d) => {
      this.chunks.push(Buffer.from(d));
      this.bytes += d.length;
      if (!this.stalled) conn.setUnread(0);
    };
    conn.onEnd = () => {
      this.ended = true;
    };
    conn.onClose = (e) => {
      this.closed = true;
      this.error = e;
    };
  }
  resume(): void {
    this.stalled = false;
    this.conn.setUnread(0);
  }
  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Writes `data` into conn in chunks as the send buffer drains, then ends it when `end`. */
export function pump(
  conn: TcpConnection,
  data: Buffer,
  chunk = 64 * 1024,
  end = true,
): { done: () => boolean } {
  let off = 0;
  let ended = false;
  const feed = () => {
    while (off < data.length) {
      const n = Math.min(chunk, data.length - off);
      const more = conn.write(data.subarray(off, off + n));
      off += n;
      if (!more) return;
    }
    if (end && !ended) {
      ended = true;
      conn.shutdownWrite();
    }
  };
  conn.onDrain = () => {
    if (!ended) feed();
  };
  const prev = conn.onEstablished;
  conn.onEstablished = () => {
    prev();
    feed();
  };
  if (conn.isSynchronized()) feed();
  return { done: () => off >= data.length };
}
