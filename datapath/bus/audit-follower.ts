// Reads an audit log (the current JSONL file and its rotated `.1 … .N`) in sequence order from a
// given point, following a file by inode across its rotation so nothing is skipped or read twice.
// Only complete lines count (a line being written has no "\n" yet). File I/O only; no bus.
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { auditFiles } from '../audit/writer.ts';

export interface AuditLine {
  seq: number;
  hash: string;
  /** the line exactly as written (its hash chain verifies byte for byte) */
  text: string;
}

const HEAD = /^\{"v":\d+,"time":"[^"]*","seq":(\d+),.*"hash":"([0-9a-f]{64})"\}$/;

export function parseAuditLine(text: string): AuditLine | null {
  const m = HEAD.exec(text);
  return m ? { seq: Number(m[1]), hash: m[2], text } : null;
}

function inode(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}

/** The first line of a file ('' while it has none complete): what identifies it besides its inode. */
function firstLine(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8');
    const nl = text.indexOf('\n');
    return nl >= 0 ? text.slice(0, nl) : '';
  } finally {
    closeSync(fd);
  }
}

const CHUNK = 4 * 1024 * 1024;

export class AuditFollower {
  readonly path: string;
  readonly maxFiles: number;
  /**
   * Where reading continues: a file by inode (survives its rename to .1), recognised also by its
   * first line (an inode number freed by a deleted file is soon reused by a new one), and an offset.
   */
  private pos: { ino: number; first: string; offset: number } | null = null;

  constructor(path: string, maxFiles: number) {
    this.path = path;
    this.maxFiles = maxFiles;
  }

  /** Every complete record on disk, oldest first (startup, to find where to resume). */
  scanAll(): AuditLine[] {
    const out: AuditLine[] = [];
    for (const f of auditFiles(this.path, this.maxFiles)) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch {
        continue;
      }
      for (const l of text.split('\n')) {
        const p = parseAuditLine(l);
        if (p) out.push(p);
      }
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Forget the position: the next read starts at the oldest file and skips by sequence. */
  reset(): void {
    this.pos = null;
  }

  /** Up to `max` records with seq > `afterSeq`, in order. */
  next(afterSeq: number, max: number): AuditLine[] {
    const files = auditFiles(this.path, this.maxFiles).map((f) => ({ f, ino: inode(f) }));
    const at = (k: number) => ({ ino: files[k].ino!, first: firstLine(files[k].f), offset: 0 });
    let i = this.pos ? files.findIndex((x) => x.ino === this.pos!.ino) : -1;
    // Same inode, different first line: not our file any more (ours was deleted, its inode reused).
    if (i >= 0 && this.pos!.first !== '' && firstLine(files[i].f) !== this.pos!.first) i = -1;
    if (i < 0) {
      i = 0;
      this.pos = files.length > 0 && files[0].ino !== null ? at(0) : null;
    }
    const out: AuditLine[] = [];
    const seen = new Set<number>();
    while (this.pos && i < files.length && out.length < max) {
      let fd: number;
      try {
        fd = openSync(files[i].f, 'r');
      } catch {
        break;
      }
      let progressed = false;
      try {
        const size = fstatSync(fd).size;
        if (size > this.pos.offset) {
          const buf = Buffer.alloc(Math.min(size - this.pos.offset, CHUNK));
          const n = readSync(fd, buf, 0, buf.length, this.pos.offset);
          const text = buf.subarray(0, n).toString('utf8');
          const end = text.lastIndexOf('\n');
          if (end >= 0) {
            let consumed = 0;
            for (const l of text.slice(0, end).split('\n')) {
              consumed += Buffer.byteLength(l) + 1;
              const p = parseAuditLine(l);
              if (p && p.seq > afterSeq && !seen.has(p.seq)) {
                seen.add(p.seq);
                out.push(p);
                if (out.length >= max) break;
              }
            }
            if (this.pos.first === '') this.pos.first = firstLine(files[i].f);
            this.pos.offset += consumed;
            progressed = true;
          }
        }
      } finally {
        closeSync(fd);
      }
      if (progressed) continue; // more may follow in this file
      // End of this file: a rotated one is complete, go on to the next; the current one grows.
      if (i < files.length - 1 && files[i + 1].ino !== null) {
        i++;
        this.pos = at(i);
      } else break;
    }
    return out.sort((a, b) => a.seq - b.seq);
  }
}
