// Appends sealed audit records to a JSONL file, mode 0600, size-based rotation with a bounded number
// of files, and the chain carried across restarts and rotations.
//
// Records are queued as given and sealed (time, seq, prev, hash) when they are written, in queue
// order, so hashing and serialising happen in the write. Two ways in:
// - append() writes now, with any records waiting; its result says whether the record is in the file.
//   The proxy appends an allowed connection's decision record after the dial and its success reply,
//   before the relay moves a byte (off the connect's critical path; docs/audit.md) — and before the
//   dial while the file is not knownWritable (no write succeeded since the start or the last
//   failure), so a broken file refuses connections before they are dialed.
// - appendSoon() is for records nothing waits on (close records): written with the next write or
//   within FLUSH_AFTER_MS, whichever is first — one write syscall for several records instead of one
//   each, a measurable part of a connection's cost (docs/performance.md). A SIGKILL can lose the
//   records of that last window; the file then simply ends earlier, its chain intact.
//
// Never throws on a write failure: it reports it (healthy=false, lastError) and returns false, and
// the caller decides (fail closed refuses the connection). Records whose write failed are dropped
// and the chain goes on from the last record in the file, so the file always verifies.

import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { type AuditFields, type ChainState, GENESIS_HASH, sealRecord } from './record.ts';

/** The longest a record given to appendSoon() waits for its write. */
export const FLUSH_AFTER_MS = 10;

export interface AuditWriterOptions {
  readonly path: string;
  readonly sandbox: string;
  /** rotate when the current file would grow past this many bytes */
  readonly maxBytes: number;
  /** rotated files kept: path.1 (newest) .. path.N (oldest); older ones are deleted */
  readonly maxFiles: number;
  readonly now?: () => number;
  /** told the outcome of every write: how many records it carried, and whether it succeeded */
  readonly onWrite?: (records: number, ok: boolean) => void;
}

export interface AuditStatus {
  healthy: boolean;
  path: string;
  records: number;
  seq: number;
  writeErrors: number;
  lastError: string | null;
  lastRecordTime: string | null;
  rotations: number;
}

/** Reads the last complete record of a regular file, or null. */
function lastRecordOf(path: string): ChainState | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size === 0) return null;
    const len = Math.min(st.size, 256 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, st.size - len);
    const lines = buf.toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = /"seq":([0-9]+),.*,"hash":"([0-9a-f]{64})"}$/.exec(lines[i]);
      if (m) return { seq: Number(m[1]), hash: m[2] };
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

export class AuditWriter {
  private readonly opts: AuditWriterOptions;
  private readonly now: () => number;
  private fd: number | null = null;
  private size = 0;
  private regular = true;
  /** the chain after the last record in the file */
  private chain: ChainState = { seq: 0, hash: GENESIS_HASH };
  /** records waiting for their write (sealed when written) */
  private queue: AuditFields[] = [];
  private proven = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastMs = -1;
  private lastIso = '';
  private readonly st: AuditStatus;

  constructor(opts: AuditWriterOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.st = {
      healthy: true,
      path: opts.path,
      records: 0,
      seq: 0,
      writeErrors: 0,
      lastError: null,
      lastRecordTime: null,
      rotations: 0,
    };
    // Resume the chain where the previous run left it (current file, else the newest rotated one).
    const last = lastRecordOf(opts.path) ?? lastRecordOf(`${opts.path}.1`);
    if (last !== null) this.chain = last;
    this.st.seq = this.chain.seq;
    this.tryOpen();
  }

  get status(): Readonly<AuditStatus> {
    return this.st;
  }

  private fail(e: unknown): void {
    this.st.healthy = false;
    this.st.writeErrors++;
    this.st.lastError = e instanceof Error ? e.message : String(e);
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // already failing; the next append reopens
      }
      this.fd = null;
    }
  }

  private tryOpen(): boolean {
    if (this.fd !== null) return true;
    try {
      this.fd = openSync(this.opts.path, 'a', 0o600);
      const st = fstatSync(this.fd);
      this.regular = st.isFile();
      this.size = this.regular ? st.size : 0;
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  private rotate(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    const p = this.opts.path;
    rmSync(`${p}.${this.opts.maxFiles}`, { force: true });
    for (let i = this.opts.maxFiles - 1; i >= 1; i--) {
      try {
        renameSync(`${p}.${i}`, `${p}.${i + 1}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    if (this.opts.maxFiles >= 1) renameSync(p, `${p}.1`);
    else rmSync(p, { force: true });
    this.st.rotations++;
    this.fd = openSync(p, 'a', 0o600);
    this.size = 0;
  }

  /** Writes one record now (with any records waiting). False (and why, in status) if it failed. */
  append(fields: AuditFields): boolean {
    this.queue.push(fields);
    return this.flush();
  }

  /** Writes one record within FLUSH_AFTER_MS, or with the next write. */
  appendSoon(fields: AuditFields): void {
    this.queue.push(fields);
    if (this.closed)
      this.flush(); // shutting down: no later write to ride with
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS).unref();
  }

  /** A write has succeeded since the start or the last failed write. */
  get knownWritable(): boolean {
    return this.proven && !this.closed;
  }

  /** Writes the records waiting, if any. */
  flushNow(): boolean {
    return this.flush();
  }

  private isoTime(): string {
    // one Date per millisecond, not per record
    const t = this.now();
    if (t !== this.lastMs) {
      this.lastMs = t;
      this.lastIso = new Date(t).toISOString();
    }
    return this.lastIso;
  }

  /**
   * Seals the queued records, in queue order, and writes them in one call. The chain moves on only
   * if the write succeeds: records whose write failed are dropped, and the next ones chain from the
   * last record in the file.
   */
  private flush(): boolean {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    const queue = this.queue;
    if (queue.length === 0) return true;
    this.queue = [];
    const time = this.isoTime();
    const head = { time, seq: this.chain.seq, sandbox: this.opts.sandbox };
    let prev = this.chain.hash;
    let text = '';
    for (const fields of queue) {
      head.seq++;
      const sealed = sealRecord(head, fields, prev);
      prev = sealed.hash;
      text += `${sealed.line}\n`;
    }
    const ok = this.write(text);
    this.opts.onWrite?.(queue.length, ok);
    if (!ok) {
      this.proven = false;
      return false;
    }
    this.proven = true;
    this.chain = { seq: head.seq, hash: prev };
    this.st.seq = head.seq;
    this.st.records += queue.length;
    this.st.lastRecordTime = time;
    this.st.healthy = true;
    return true;
  }

  private write(text: string): boolean {
    if (!this.tryOpen()) return false;
    try {
      // Records are ASCII unless a session id is not, so the length is the byte count for the
      // rotation check (a non-ASCII batch may overshoot maxBytes by its few extra bytes).
      if (this.regular && this.size > 0 && this.size + text.length > this.opts.maxBytes) this.rotate();
      const fd = this.fd as number;
      let written = writeSync(fd, text);
      // A short write (disk full mid-record) is finished from a buffer; in practice one call writes it all.
      if (written !== text.length) {
        const data = Buffer.from(text);
        while (written < data.length) written += writeSync(fd, data, written, data.length - written);
      }
      this.size += written;
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  close(): void {
    this.closed = true;
    this.flushNow();
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // nothing left to report to
    }
    this.fd = null;
  }
}

/** The files of one audit log, oldest first (rotated ones, then the current one). */
export function auditFiles(path: string, maxFiles: number): string[] {
  const out: string[] = [];
  for (let i = maxFiles; i >= 1; i--) {
    try {
      statSync(`${path}.${i}`);
      out.push(`${path}.${i}`);
    } catch {
      // not there
    }
  }
  try {
    statSync(path);
    out.push(path);
  } catch {
    // not there
  }
  return out;
}
