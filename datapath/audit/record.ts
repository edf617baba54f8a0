// The audit record (docs/audit.md is the reference) and its hash chain. Pure: no I/O.
//
// Every record is one JSON line with a fixed key order and `hash` as the last member:
//   line = body without its closing "}" + ',"hash":"<64 hex>"}'
//   hash = hex(SHA-256(body)), body = the JSON text of every member but `hash`, with `prev` (the
//          previous record's hash) inside it.
// So a verifier in any language recomputes a line's hash from its own bytes: cut the last 75
// characters (`,"hash":"` + 64 hex + `"}`), append "}", hash. Editing any byte of any line breaks
// that line's hash or the next line's `prev`.

import { hash } from 'node:crypto';

export const AUDIT_SCHEMA_VERSION = 1;
export const GENESIS_HASH = '0'.repeat(64);
const HASH_SUFFIX_LENGTH = ',"hash":"'.length + 64 + '"}'.length;

export type AuditEvent = 'decision' | 'close';
export type AuditDirection = 'egress' | 'ingress';
/** `transparent`: gVisor mode, the agent's own connection intercepted by the netstack (no proxy protocol). */
export type AuditProtocol = 'socks5' | 'http-connect' | 'http' | 'forward' | 'transparent';
export type AuditDecision = 'allow' | 'deny' | 'error';

/** What the datapath supplies for one record; the writer adds v, time, seq, sandbox, prev, hash. */
export interface AuditFields {
  event: AuditEvent;
  conn: string;
  session: string | null;
  dir: AuditDirection;
  proto: AuditProtocol;
  src: string;
  host: string | null;
  port: number | null;
  resolved: string[] | null;
  dialed: string | null;
  path: string | null;
  decision: AuditDecision;
  rule: string | null;
  reason: string;
  reply: number | null;
  bytesUp: number | null;
  bytesDown: number | null;
  durationMs: number | null;
}

export interface AuditRecord extends AuditFields {
  v: number;
  time: string;
  seq: number;
  sandbox: string;
  prev: string;
  hash: string;
}

/** One-shot SHA-256 (crypto.hash is ~4× faster than a Hash object for a record-sized input). */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

/** Serialises a record (fixed key order) and returns the line without "\n", and its hash. */
export function sealRecord(
  head: { time: string; seq: number; sandbox: string },
  f: AuditFields,
  prev: string,
): { line: string; hash: string } {
  // Key order is part of the format: build the object literally, never from a spread of `f`.
  const body = JSON.stringify({
    v: AUDIT_SCHEMA_VERSION,
    time: head.time,
    seq: head.seq,
    sandbox: head.sandbox,
    event: f.event,
    conn: f.conn,
    session: f.session,
    dir: f.dir,
    proto: f.proto,
    src: f.src,
    host: f.host,
    port: f.port,
    resolved: f.resolved,
    dialed: f.dialed,
    path: f.path,
    decision: f.decision,
    rule: f.rule,
    reason: f.reason,
    reply: f.reply,
    bytesUp: f.bytesUp,
    bytesDown: f.bytesDown,
    durationMs: f.durationMs,
    prev,
  });
  const h = sha256Hex(body);
  return { line: `${body.slice(0, -1)},"hash":"${h}"}`, hash: h };
}

export interface ChainState {
  seq: number;
  hash: string;
}

export type VerifyResult =
  | { ok: true; records: number; first: number | null; last: ChainState | null }
  | { ok: false; line: number; why: string };

/**
 * Checks lines against the chain. `anchor` is the state before the first line (null: the first line
 * may start anywhere, e.g. the oldest rotated file whose predecessor was deleted; but a first line
 * with seq 1 must have the genesis `prev`). Line numbers in errors are 1-based.
 */
export function verifyLines(lines: Iterable<string>, anchor: ChainState | null, startLine = 1): VerifyResult {
  let state = anchor;
  let n = 0;
  let first: number | null = null;
  let lineNo = startLine - 1;
  for (const line of lines) {
    lineNo++;
    if (line === '') continue;
    if (line.length <= HASH_SUFFIX_LENGTH || !/,"hash":"[0-9a-f]{64}"}$/.test(line)) {
      return { ok: false, line: lineNo, why: 'not a sealed audit record (no trailing "hash")' };
    }
    const body = `${line.slice(0, -HASH_SUFFIX_LENGTH)}}`;
    const lineHash = line.slice(-66, -2);
    if (sha256Hex(body) !== lineHash)
      return { ok: false, line: lineNo, why: 'hash does not match the line (edited?)' };
    let rec: AuditRecord;
    try {
      rec = JSON.parse(line) as AuditRecord;
    } catch {
      return { ok: false, line: lineNo, why: 'not valid JSON' };
    }
    if (typeof rec.seq !== 'number' || typeof rec.prev !== 'string')
      return { ok: false, line: lineNo, why: 'missing seq or prev' };
    if (state === null) {
      if (rec.seq === 1 && rec.prev !== GENESIS_HASH)
        return { ok: false, line: lineNo, why: 'first record does not start from the genesis hash' };
    } else {
      if (rec.seq !== state.seq + 1)
        return {
          ok: false,
          line: lineNo,
          why: `seq ${rec.seq} does not follow ${state.seq} (line removed or reordered?)`,
        };
      if (rec.prev !== state.hash)
        return {
          ok: false,
          line: lineNo,
          why: 'prev does not match the previous record hash (line removed or edited?)',
        };
    }
    first ??= rec.seq;
    state = { seq: rec.seq, hash: lineHash };
    n++;
  }
  return { ok: true, records: n, first, last: state };
}
