// Fixed-size buffers for the TCP send queues (byte-queue.ts), reused across connections. Pure.
//
// Why: the send queue used to keep the application's own chunks (the proxy's 64 KiB socket reads)
// until the peer acknowledged them. Over an upload those chunks outlive a couple of scavenges (the
// queue holds up to 1 MiB; a 1 MiB young generation is scavenged every few hundred KiB), so V8
// promoted them and their memory came back only with a full mark-compact — which V8 starts by old
// heap growth, not by external memory, so 30+ MiB of dead read buffers piled up first (measured:
// arrayBuffers 1 → 34 MiB, RSS +35 MiB in the first second of a 100 MB upload). Copying into slabs
// that go back here when acknowledged leaves the read buffers short-lived (freed by the next
// scavenge, as on the direct path) and the slabs are never garbage.

/**
 * 16 KiB: a connection with unacknowledged bytes holds at least one slab, so the size is what 1,000
 * stalled connections with a small write each would hold (16 MiB); segments straddle a slab boundary
 * (and are copied out) about once in 11.
 */
export const SLAB_BYTES = 16 * 1024;

export class SlabPool {
  readonly #free: Buffer[] = [];
  readonly #maxFree: number;
  /** Slabs ever allocated (tests check this stays bounded by what is in use, not by bytes moved). */
  allocated = 0;

  /** `maxFree`: slabs kept for reuse; more than that are dropped (memory an idle process gives back). */
  constructor(maxFree: number) {
    this.#maxFree = maxFree;
  }

  take(): Buffer {
    const s = this.#free.pop();
    if (s !== undefined) return s;
    this.allocated++;
    // Outside Node's shared 8 KiB pool: a slab is its own allocation, kept and reused.
    return Buffer.allocUnsafeSlow(SLAB_BYTES);
  }

  give(slab: Buffer): void {
    if (this.#free.length < this.#maxFree) this.#free.push(slab);
  }

  get free(): number {
    return this.#free.length;
  }
}

/**
 * The pool every connection's send queue uses. 128 free slabs (2 MiB) cover two full 1 MiB send
 * buffers turning over; an idle process keeps at most that.
 */
export const sendSlabs = new SlabPool(128);
