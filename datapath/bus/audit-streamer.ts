// Streams the local audit log into JetStream. The JSONL files are the buffer: records are read from
// disk (current file and rotated ones), published with message id <ns>/<name>/<epoch>/<seq> (the
// stream drops a duplicate id), and a cursor file next to the log records the last record the
// stream acknowledged. A bus outage only delays; a restart resumes after the cursor; a crash between
// an acknowledgement and the cursor write republishes a few records that the stream de-duplicates.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { jetstream } from '@nats-io/jetstream';
import { AckWindow, type Cursor, messageId, type RecordHead, resumePoint } from './audit-cursor.ts';
import { AuditFollower, type AuditLine } from './audit-follower.ts';
import type { BusConnection } from './connection.ts';

export interface AuditStreamerOptions {
  auditPath: string;
  maxFiles: number;
  namespace: string;
  name: string;
  subject: string;
  bus: BusConnection;
  log: { info(m: string, f?: object): void; warn(m: string, f?: object): void };
  cursorPath?: string;
  /** publishes in flight at once */
  window?: number;
  pollMs?: number;
}

export class AuditStreamer {
  readonly o: AuditStreamerOptions;
  readonly cursorPath: string;
  streamed = 0;
  lastError: string | null = null;
  note: string | null = null;
  private epoch = '';
  private window: AckWindow | null = null;
  private readonly follower: AuditFollower;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(o: AuditStreamerOptions) {
    this.o = o;
    this.cursorPath = o.cursorPath ?? `${o.auditPath}.cursor.json`;
    this.follower = new AuditFollower(o.auditPath, o.maxFiles);
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  /** Nudges the loop (new records written, bus back). */
  poke(): void {
    this.wake?.();
  }

  status(): Record<string, unknown> {
    return {
      streamed: this.streamed,
      acknowledgedSeq: this.window?.seq ?? null,
      epoch: this.epoch || null,
      lastError: this.lastError,
      note: this.note,
    };
  }

  private readCursor(): Cursor | null {
    try {
      const c = JSON.parse(readFileSync(this.cursorPath, 'utf8')) as Cursor;
      return c?.v === 1 &&
        Number.isSafeInteger(c.seq) &&
        typeof c.epoch === 'string' &&
        typeof c.hash === 'string'
        ? c
        : null;
    } catch {
      return null;
    }
  }

  private writeCursor(): void {
    if (!this.window) return;
    const c: Cursor = { v: 1, epoch: this.epoch, seq: this.window.seq, hash: this.window.hash };
    const tmp = `${this.cursorPath}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(c)}\n`, { mode: 0o600 });
    renameSync(tmp, this.cursorPath);
  }

  private resume(): boolean {
    const all = this.follower.scanAll();
    const cursor = this.readCursor();
    const head = (l: AuditLine | undefined): RecordHead | null => (l ? { seq: l.seq, hash: l.hash } : null);
    const at = cursor ? all.find((l) => l.seq === cursor.seq) : undefined;
    const rp = resumePoint(cursor, head(all[0]), head(all[all.length - 1]), head(at));
    if (rp === null) return false;
    this.epoch = rp.epoch;
    this.window = new AckWindow(rp.afterSeq, at?.hash ?? cursor?.hash ?? '');
    this.follower.reset();
    if (rp.note && rp.note !== 'no-cursor') {
      this.note = rp.note;
      this.o.log.warn('audit stream resumes on a different point', { note: rp.note, afterSeq: rp.afterSeq });
    }
    return true;
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
    this.wake = null;
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (!this.stopped) {
      const nc = this.o.bus.nc;
      if (!nc || this.o.bus.state !== 'connected') {
        await this.sleep(this.o.pollMs ?? 250);
        continue;
      }
      if (!this.window && !this.resume()) {
        await this.sleep(this.o.pollMs ?? 250);
        continue;
      }
      const batch = this.follower.next(this.window!.seq, this.o.window ?? 128);
      if (batch.length === 0) {
        await this.sleep(this.o.pollMs ?? 250);
        continue;
      }
      const js = jetstream(nc);
      const results = await Promise.allSettled(
        batch.map((l) =>
          js.publish(this.o.subject, l.text, {
            msgID: messageId(this.o.namespace, this.o.name, this.epoch, l.seq),
            timeout: 5000,
          }),
        ),
      );
      let failed: string | null = null;
      results.forEach((r, k) => {
        if (r.status === 'fulfilled') {
          if (!r.value.duplicate) this.streamed++;
          this.window!.ack(batch[k].seq, batch[k].hash);
        } else failed ??= String((r.reason as Error)?.message ?? r.reason);
      });
      try {
        this.writeCursor();
      } catch (e) {
        failed ??= `cursor: ${(e as Error).message}`;
      }
      if (failed) {
        this.lastError = failed;
        // Re-read from the acknowledged point: whatever was published past it is sent again and
        // de-duplicated by its message id.
        this.window!.reset();
        this.follower.reset();
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      } else {
        backoff = 250;
      }
    }
  }
}
