// A FIFO of bytes addressed by offset from its head: the TCP send buffer (unacknowledged and unsent
// data). Pure. Written bytes are copied into 16 KiB slabs from a shared pool (slab-pool.ts says why:
// keeping the writer's chunks let them be promoted and pile up as garbage); acknowledged slabs go
// back to the pool. Every slab but the last is full, so an offset maps to its slab by division.
// Reads return views into a slab when the range lies in one (all but ~1 in 11 segments), valid until
// the next trim — the stack copies them into the outgoing packet at once.
import { SLAB_BYTES, type SlabPool, sendSlabs } from './slab-pool.ts';

export class ByteQueue {
  private slabs: Buffer[] = [];
  private head = 0; // index of the first live slab
  private headOffset = 0; // bytes already consumed from slabs[head]
  private readonly pool: SlabPool;
  length = 0;

  constructor(pool: SlabPool = sendSlabs) {
    this.pool = pool;
  }

  /** Appends a copy of `chunk`; the caller may reuse it at once. */
  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      const pos = this.headOffset + this.length;
      const idx = this.head + Math.floor(pos / SLAB_BYTES);
      if (idx === this.slabs.length) this.slabs.push(this.pool.take());
      const from = pos % SLAB_BYTES;
      const n = Math.min(SLAB_BYTES - from, chunk.length - off);
      this.slabs[idx].set(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n), from);
      off += n;
      this.length += n;
    }
  }

  /** Bytes [offset, offset + len) as one Buffer (a view until the next trim). */
  peek(offset: number, len: number): Buffer {
    if (offset < 0 || len < 0 || offset + len > this.length) throw new RangeError('peek outside queue');
    const pos = this.headOffset + offset;
    let idx = this.head + Math.floor(pos / SLAB_BYTES);
    const from = pos % SLAB_BYTES;
    if (from + len <= SLAB_BYTES) return this.slabs[idx].subarray(from, from + len);
    const out = Buffer.allocUnsafe(len);
    let written = this.slabs[idx].copy(out, 0, from);
    while (written < len) {
      const s = this.slabs[++idx];
      written += s.copy(out, written, 0, Math.min(SLAB_BYTES, len - written));
    }
    return out;
  }

  /** Drops n bytes from the head (they were acknowledged). */
  trim(n: number): void {
    if (n > this.length) throw new RangeError('trim past end of queue');
    this.length -= n;
    this.headOffset += n;
    while (this.headOffset >= SLAB_BYTES) {
      this.pool.give(this.slabs[this.head]);
      this.slabs[this.head] = EMPTY;
      this.head++;
      this.headOffset -= SLAB_BYTES;
    }
    if (this.length === 0) {
      // Empty: the partly used last slab goes back too, so an idle connection holds none.
      for (let i = this.head; i < this.slabs.length; i++) this.pool.give(this.slabs[i]);
      this.slabs = [];
      this.head = 0;
      this.headOffset = 0;
    } else if (this.head > 64 && this.head * 2 > this.slabs.length) {
      // Compact occasionally so the array does not grow without bound.
      this.slabs = this.slabs.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);
