// Appends sealed audit records to a JSONL file, mode 0600, size-based rotation with a bounded number
// of files, and the chain carried across restarts and rotations.
//
// Three ways in, all sealing at once (so the chain keeps the order records were made in):
// - append() writes now: used when a caller must know before going on (a decision record while the
//   file is not known to be writable, and every denial).
// - stage() is for a decision record whose connection is being dialed: it is written by commit(),
//   which the proxy calls after the dial and before the connection relays its first byte, or with
//   any earlier write. Off the connect's critical path, yet no byte moves unaudited (docs/audit.md).
//   It returns null while no write has succeeded since the start or the last failure: the caller
//   then append()s, so a broken file refuses connections before they are dialed.
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

/** A staged record's receipt: whether its write succeeded, null while it waits. */
export interface StagedRecord {
  written: boolean | null;
}

/** The longest a record given to appendSoon() or stage() waits for its write. */
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
  /** the chain after the last sealed record (pending ones included) */
  private chain: ChainState = { seq: 0, hash: GENESIS_HASH };
  /** the chain after the last record in the file */
  private written: ChainState = this.chain;
  /** sealed lines (each ending in "\n") not yet written, and the receipts of the staged ones */
  private pending: string[] = [];
  private receipts: StagedRecord[] = [];
  /** a write succeeded since the start or the last failure (stage() hands out receipts only then) */
  private proven = false;
  private pendingTime: string | null = null;
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
    this.written = this.chain;
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

  /** Seals and writes one record (with any records waiting). False (and why, in status) if it failed. */
  append(fields: AuditFields): boolean {
    const time = this.seal(fields);
    return this.flush(time);
  }

  /** Seals one record now and writes it within FLUSH_AFTER_MS (or with the next append()). */
  appendSoon(fields: AuditFields): void {
    if (this.closed) {
      this.append(fields); // shutting down: no later write to ride with
      return;
    }
    this.pendingTime = this.seal(fields);
    this.flushTimer ??= setTimeout(() => this.flush(this.pendingTime), FLUSH_AFTER_MS).unref();
  }

  /**
   * Seals a decision record to be written by commit() (or any earlier write, or within
   * FLUSH_AFTER_MS). Null, sealing nothing, while the file is not known to be writable: append().
   */
  stage(fields: AuditFields): StagedRecord | null {
    if (!this.proven || this.closed) return null;
    const receipt: StagedRecord = { written: null };
    this.appendSoon(fields);
    this.receipts.push(receipt);
    return receipt;
  }

  /** Writes a staged record now unless it already was; whether it is in the file. */
  commit(receipt: StagedRecord): boolean {
    if (receipt.written === null) this.flush(this.pendingTime);
    return receipt.written === true;
  }

  /** Writes the records waiting, if any. */
  flushNow(): boolean {
    return this.pending.length === 0 || this.flush(this.pendingTime);
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

  private seal(fields: AuditFields): string {
    const time = this.isoTime();
    const seq = this.chain.seq + 1;
    const { line, hash } = sealRecord({ time, seq, sandbox: this.opts.sandbox }, fields, this.chain.hash);
    this.pending.push(`${line}\n`);
    this.chain = { seq, hash };
    return time;
  }

  private flush(time: string | null): boolean {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    const lines = this.pending;
    const receipts = this.receipts;
    this.pending = [];
    this.pendingTime = null;
    if (lines.length === 0) return true;
    if (receipts.length > 0) this.receipts = [];
    const ok = this.write(lines.length === 1 ? lines[0] : lines.join(''));
    for (const r of receipts) r.written = ok;
    this.opts.onWrite?.(lines.length, ok);
    if (!ok) {
      // dropped: the next record chains from the last one in the file
      this.chain = this.written;
      this.proven = false;
      return false;
    }
    this.proven = true;
    this.written = this.chain;
    this.st.seq = this.chain.seq;
    this.st.records += lines.length;
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
