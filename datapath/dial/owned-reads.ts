// Reads from a dialed kernel socket into buffers the datapath owns (node:net's `onread`), instead of
// Node's default of a fresh 64 KiB allocation and a 'data' event per read.
//
// Why: a relay moves every byte it reads straight into another socket's write. When that write hands
// the bytes to the kernel at once (the common case: the other socket's send buffer has room), the
// read buffer is free again the moment the write returns, so the next read can reuse it; and a
// buffer that grows to 256 KiB under bulk transfer needs a quarter of the read syscalls and
// callbacks. Measured on loopback (a 128 MiB download through a bare relay, interleaved runs):
// relay CPU per GB 0.85 s with 'data' events → 0.63 s with a reused 64 KiB buffer → 0.48 s with
// 256 KiB (1 MiB: no better).
//
// Buffer ownership is the one rule: a chunk handed to the sink is a view of the read buffer, valid
// until the sink returns. A sink that keeps it (an asynchronous write still holds it) calls keep(),
// and the next read goes into a new buffer. Sizes adapt per connection (classic adaptive receive
// sizing): a read that fills the buffer grows it 4×, up to MAX; one that uses under a quarter shrinks
// it, down to MIN, so a connection idle after a burst does not hold 256 KiB, and the 1,000 idle
// connections of the memory budget hold 8 KiB each at most (and only the pages a read touched).

import type { OnReadOpts, Socket } from 'node:net';

export const MIN_READ = 4 * 1024;
export const MAX_READ = 256 * 1024;

/** Receives each chunk read; returns false to stop reading until resume(). */
export type ChunkSink = (chunk: Buffer) => boolean;

/** The next read buffer's size after a read of `nread` bytes into a buffer of `size`. Pure. */
export function nextReadSize(size: number, nread: number): number {
  if (nread >= size) return Math.min(MAX_READ, size * 4);
  if (nread < size / 4) return Math.max(MIN_READ, size / 4);
  return size;
}

/**
 * Every connection's first read goes into this one buffer, and a read that brought data is copied
 * out of it before the sink sees it. Most connections read little or nothing before their EOF, and
 * a buffer of their own per connection (a malloc, and external memory that V8 answers with major
 * GCs) cost ~25 µs of CPU per connect on the sequential-connect benchmark.
 */
const FIRST_READ = Buffer.allocUnsafe(MIN_READ);

export class OwnedReads {
  /** null until the first read has brought data */
  private buf: Buffer | null = null;
  /** bytes of the last read delivered to the sink; -1 when none since the last nextBuffer() */
  private lastRead = -1;
  private kept = false;
  private sink: ChunkSink | null = null;
  private socket: Socket | null = null;
  /** bytes read before a sink was attached (copies: the read buffer is reused) */
  private early: Buffer[] = [];

  /** Options for net.connect({ onread }). */
  readonly onread: OnReadOpts = {
    buffer: () => this.nextBuffer(),
    callback: (nread: number, buf: Uint8Array) => this.onRead(nread, buf as Buffer),
  };

  /** Called by the dialer once the socket exists, so reading can be resumed when a sink attaches. */
  bind(socket: Socket): void {
    this.socket = socket;
  }

  /** The sink keeps the chunk it was just handed: the next read must not overwrite it. */
  keep(): void {
    this.kept = true;
  }

  /**
   * Attaches the consumer. Bytes that arrived before it are delivered first, all of them (they are
   * already in memory); reading resumes unless the sink asked for a pause, in which case it resumes
   * the socket itself when it can take more.
   */
  attach(sink: ChunkSink): void {
    this.sink = sink;
    let more = true;
    // early chunks are private copies: the sink may keep them without calling keep()
    for (const chunk of this.early) more = sink(chunk) && more;
    this.early = [];
    if (more) this.socket?.resume();
  }

  private onRead(nread: number, buf: Buffer): boolean {
    const view = nread === buf.length ? buf : buf.subarray(0, nread);
    // a copy when the buffer is the shared first one (the next connection's first read reuses it)
    // or the bytes must wait for the sink (the next read reuses the buffer)
    const chunk = buf === FIRST_READ || this.sink === null ? Buffer.from(view) : view;
    if (this.sink === null) {
      this.early.push(chunk);
      return false; // paused until attach()
    }
    this.lastRead = nread;
    return this.sink(chunk);
  }

  private nextBuffer(): Buffer {
    if (this.lastRead < 0) return this.buf ?? FIRST_READ; // nothing was handed out since
    const size = nextReadSize(this.buf?.length ?? MIN_READ, this.lastRead);
    this.lastRead = -1;
    if (this.buf === null || this.kept || size !== this.buf.length) {
      this.kept = false;
      this.buf = Buffer.allocUnsafe(size);
    }
    return this.buf;
  }
}
