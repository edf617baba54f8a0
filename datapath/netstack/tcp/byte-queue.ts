// A FIFO of byte chunks addressed by offset from its head: the TCP send buffer (unacknowledged and
// unsent data). Pure. Reads return views into the chunks the application wrote when a range lies in
// one chunk (the common case: segments are ~1.4 kB, writes are ~16–64 kB), and copy only across a
// chunk boundary.

export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // index of the first live chunk
  private headOffset = 0; // bytes already consumed from chunks[head]
  length = 0;
  // Cursor cache for peek: sequential sends walk forward without rescanning from the head.
  private cursorIndex = 0;
  private cursorStart = 0; // queue offset at which chunks[cursorIndex] (after headOffset if head) starts

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Bytes [offset, offset + len) as one Buffer. */
  peek(offset: number, len: number): Buffer {
    if (offset < 0 || len < 0 || offset + len > this.length) throw new RangeError('peek outside queue');
    if (offset < this.cursorStart || this.cursorIndex < this.head) {
      this.cursorIndex = this.head;
      this.cursorStart = 0;
    }
    let idx = this.cursorIndex;
    let start = this.cursorStart;
    for (;;) {
      const avail = this.chunkLength(idx);
      if (offset < start + avail) break;
      start += avail;
      idx++;
    }
    this.cursorIndex = idx;
    this.cursorStart = start;
    const base = idx === this.head ? this.headOffset : 0;
    const chunk = this.chunks[idx];
    const from = base + (offset - start);
    if (from + len <= chunk.length) return chunk.subarray(from, from + len);
    const out = Buffer.allocUnsafe(len);
    let written = chunk.copy(out, 0, from);
    let j = idx + 1;
    while (written < len) {
      const c = this.chunks[j++];
      written += c.copy(out, written, 0, Math.min(c.length, len - written));
    }
    return out;
  }

  /** Drops n bytes from the head (they were acknowledged). */
  trim(n: number): void {
    if (n > this.length) throw new RangeError('trim past end of queue');
    this.length -= n;
    this.cursorStart -= n;
    while (n > 0) {
      const avail = this.chunks[this.head].length - this.headOffset;
      if (n < avail) {
        this.headOffset += n;
        break;
      }
      n -= avail;
      this.chunks[this.head] = EMPTY; // release the memory now
      this.head++;
      this.headOffset = 0;
    }
    if (this.cursorIndex < this.head || this.cursorStart < 0) {
      this.cursorIndex = this.head;
      this.cursorStart = 0;
    }
    // Compact occasionally so the array does not grow without bound.
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.cursorIndex -= this.head;
      this.head = 0;
    }
  }

  private chunkLength(idx: number): number {
    const c = this.chunks[idx];
    return idx === this.head ? c.length - this.headOffset : c.length;
  }
}

const EMPTY = Buffer.alloc(0);
