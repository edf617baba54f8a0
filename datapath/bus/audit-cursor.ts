// Where the audit streamer resumes, decided from what was acknowledged (the cursor) and what is on
// disk. Pure. The JetStream message id is `<namespace>/<name>/<epoch>/<seq>`: the sandbox and the
// record's sequence, qualified by the chain's epoch so a new chain (a new Pod, a wiped /tmp) that
// restarts at seq 1 is not mistaken for duplicates of the old one.

export interface Cursor {
  v: 1;
  /** identifies one audit chain (16 hex of the hash of the oldest record seen when it was started) */
  epoch: string;
  /** the last record acknowledged by the stream */
  seq: number;
  /** its hash, to recognise the same chain after a restart */
  hash: string;
}

export interface RecordHead {
  seq: number;
  hash: string;
}

export interface ResumePoint {
  epoch: string;
  /** records with seq > afterSeq are to be published */
  afterSeq: number;
  /** why we are not simply continuing after the cursor (for the log and status) */
  note?: 'new-chain' | 'records-lost-to-rotation' | 'no-cursor';
}

export const epochOf = (r: RecordHead) => r.hash.slice(0, 16);

export function messageId(namespace: string, name: string, epoch: string, seq: number): string {
  return `${namespace}/${name}/${epoch}/${seq}`;
}

/**
 * @param oldest  the lowest-seq record on disk (null: no records)
 * @param newest  the highest-seq record on disk
 * @param atCursor the record on disk whose seq is the cursor's, if it is still there
 */
export function resumePoint(
  cursor: Cursor | null,
  oldest: RecordHead | null,
  newest: RecordHead | null,
  atCursor: RecordHead | null,
): ResumePoint | null {
  if (oldest === null || newest === null) {
    // Nothing on disk yet: keep the cursor if there is one, else wait for the first record.
    return cursor ? { epoch: cursor.epoch, afterSeq: cursor.seq } : null;
  }
  if (cursor === null) return { epoch: epochOf(oldest), afterSeq: oldest.seq - 1, note: 'no-cursor' };
  if (atCursor !== null) {
    if (atCursor.hash === cursor.hash) return { epoch: cursor.epoch, afterSeq: cursor.seq };
    return { epoch: epochOf(oldest), afterSeq: oldest.seq - 1, note: 'new-chain' };
  }
  if (newest.seq < cursor.seq) return { epoch: epochOf(oldest), afterSeq: oldest.seq - 1, note: 'new-chain' };
  // The acknowledged record rotated away and the oldest on disk is beyond it: either unsent records
  // were rotated out before the bus came back (lost; reported), or everything up to oldest-1 was sent.
  if (oldest.seq > cursor.seq + 1)
    return { epoch: cursor.epoch, afterSeq: oldest.seq - 1, note: 'records-lost-to-rotation' };
  return { epoch: cursor.epoch, afterSeq: cursor.seq };
}

/**
 * Acknowledgements arrive out of order when publishes are pipelined; the cursor may only move over
 * an unbroken run of acknowledged sequences.
 */
export class AckWindow {
  private acked = new Map<number, string>();
  seq: number;
  hash: string;

  constructor(afterSeq: number, hash = '') {
    this.seq = afterSeq;
    this.hash = hash;
  }

  ack(seq: number, hash: string): boolean {
    if (seq <= this.seq) return false;
    this.acked.set(seq, hash);
    let moved = false;
    while (this.acked.has(this.seq + 1)) {
      this.seq++;
      this.hash = this.acked.get(this.seq)!;
      this.acked.delete(this.seq);
      moved = true;
    }
    return moved;
  }

  /** Drops acknowledgements past a failure: they will be published again (and de-duplicated). */
  reset(): void {
    this.acked.clear();
  }
}
