// TCP segment header (RFC 9293 §3.1) with the options we speak: MSS (RFC 9293 §3.7.1), window scale and
// timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018). Pure; no I/O.
// Parsing does not copy: the payload is a view into the packet.
import { finishChecksum, pseudoHeaderSum, sumWords } from '../ip/checksum.ts';
import { PROTO_TCP } from '../ip/packet.ts';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;

export const TCP_HEADER_LENGTH = 20;
/** Options we put on every non-SYN segment when timestamps are on: NOP NOP TS(10). */
export const TIMESTAMP_OPTION_LENGTH = 12;

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** The raw 16-bit window field, not yet scaled. */
  window: number;
  mss: number | undefined;
  wscale: number | undefined;
  sackPermitted: boolean;
  tsVal: number | undefined;
  tsEcr: number | undefined;
  /** SACK blocks as [left, right) pairs, flattened; undefined when absent. */
  sack: number[] | undefined;
  payload: Buffer;
}

export type TcpDropReason = 'tcp-truncated' | 'tcp-bad-offset' | 'tcp-bad-checksum';
export type TcpParseResult = { ok: true; segment: TcpSegment } | { ok: false; reason: TcpDropReason };

/**
 * Parses and checksums a TCP segment (`buf` is the IP payload; src/dst are the IP addresses).
 * `verifyChecksum` false skips the checksum, for a link that has already authenticated the packet.
 */
export function parseTcpSegment(
  buf: Buffer,
  src: Uint8Array,
  dst: Uint8Array,
  verifyChecksum = true,
): TcpParseResult {
  if (buf.length < TCP_HEADER_LENGTH) return { ok: false, reason: 'tcp-truncated' };
  const offset = (buf[12] >> 4) * 4;
  if (offset < TCP_HEADER_LENGTH || offset > buf.length) return { ok: false, reason: 'tcp-bad-offset' };
  if (verifyChecksum) {
    const sum = sumWords(buf, 0, buf.length, pseudoHeaderSum(src, dst, PROTO_TCP, buf.length));
    if (finishChecksum(sum) !== 0) return { ok: false, reason: 'tcp-bad-checksum' };
  }
  const seg: TcpSegment = {
    srcPort: (buf[0] << 8) | buf[1],
    dstPort: (buf[2] << 8) | buf[3],
    seq: buf.readUInt32BE(4),
    ack: buf.readUInt32BE(8),
    flags: buf[13],
    window: (buf[14] << 8) | buf[15],
    mss: undefined,
    wscale: undefined,
    sackPermitted: false,
    tsVal: undefined,
    tsEcr: undefined,
    sack: undefined,
    payload: buf.subarray(offset),
  };
  if (offset > TCP_HEADER_LENGTH) parseOptions(buf, TCP_HEADER_LENGTH, offset, seg);
  return { ok: true, segment: seg };
}

// Malformed options end option parsing (what we understood so far stands), as most stacks do.
function parseOptions(buf: Buffer, start: number, end: number, seg: TcpSegment): void {
  let i = start;
  while (i < end) {
    const kind = buf[i];
    if (kind === 0) return; // end of option list
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) return;
    const len = buf[i + 1];
    if (len < 2 || i + len > end) return;
    switch (kind) {
      case 2:
        if (len === 4) seg.mss = (buf[i + 2] << 8) | buf[i + 3];
        break;
      case 3:
        if (len === 3) seg.wscale = Math.min(buf[i + 2], 14); // RFC 7323 §2.3: clamp to 14
        break;
      case 4:
        if (len === 2) seg.sackPermitted = true;
        break;
      case 5:
        if ((len - 2) % 8 === 0 && len > 2) {
          const blocks: number[] = [];
          for (let j = i + 2; j < i + len; j += 8) blocks.push(buf.readUInt32BE(j), buf.readUInt32BE(j + 4));
          seg.sack = blocks;
        }
        break;
      case 8:
        if (len === 10) {
          seg.tsVal = buf.readUInt32BE(i + 2);
          seg.tsEcr = buf.readUInt32BE(i + 6);
        }
        break;
    }
    i += len;
  }
}

/** What a sender fills in; options are written only when set. */
export interface TcpHeaderOut {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  tsVal?: number;
  tsEcr?: number;
  /** [left, right) pairs, at most 3 blocks (4 without timestamps; we always send ≤ 3). */
  sack?: number[];
}

/** The header length (20 + options, padded to 4) that `writeTcpHeader` will produce for `h`. */
export function tcpHeaderLength(h: TcpHeaderOut): number {
  let n = TCP_HEADER_LENGTH;
  if (h.mss !== undefined) n += 4;
  if (h.sackPermitted) n += 2;
  if (h.tsVal !== undefined) n += h.sackPermitted ? 10 : TIMESTAMP_OPTION_LENGTH;
  if (h.wscale !== undefined) n += 4;
  if (h.sack !== undefined && h.sack.length > 0) n += 4 + 4 * h.sack.length;
  return (n + 3) & ~3;
}

/**
 * Writes header + payload into buf at `at` and fills in the checksum over the pseudo-header.
 * `buf` must have room for tcpHeaderLength(h) + payload.length bytes from `at`. Returns bytes written.
 */
export function writeTcpSegment(
  buf: Buffer,
  at: number,
  h: TcpHeaderOut,
  payload: Uint8Array | null,
  src: Uint8Array,
  dst: Uint8Array,
): number {
  const hl = tcpHeaderLength(h);
  buf[at] = h.srcPort >> 8;
  buf[at + 1] = h.srcPort & 0xff;
  buf[at + 2] = h.dstPort >> 8;
  buf[at + 3] = h.dstPort & 0xff;
  buf.writeUInt32BE(h.seq >>> 0, at + 4);
  buf.writeUInt32BE(h.ack >>> 0, at + 8);
  buf[at + 12] = (hl / 4) << 4;
  buf[at + 13] = h.flags;
  buf[at + 14] = (h.window >> 8) & 0xff;
  buf[at + 15] = h.window & 0xff;
  buf[at + 16] = 0;
  buf[at + 17] = 0;
  buf[at + 18] = 0;
  buf[at + 19] = 0;
  let i = at + TCP_HEADER_LENGTH;
  // Linux's SYN layout (MSS, SACK_PERM+TS, NOP+WS) so middleboxes and tcpdump see what they expect.
  if (h.mss !== undefined) {
    buf[i++] = 2;
    buf[i++] = 4;
    buf[i++] = h.mss >> 8;
    buf[i++] = h.mss & 0xff;
  }
  if (h.sackPermitted) {
    buf[i++] = 4;
    buf[i++] = 2;
  }
  if (h.tsVal !== undefined) {
    if (!h.sackPermitted) {
      buf[i++] = 1;
      buf[i++] = 1;
    }
    buf[i++] = 8;
    buf[i++] = 10;
    buf.writeUInt32BE(h.tsVal >>> 0, i);
    buf.writeUInt32BE((h.tsEcr ?? 0) >>> 0, i + 4);
    i += 8;
  }
  if (h.wscale !== undefined) {
    buf[i++] = 1;
    buf[i++] = 3;
    buf[i++] = 3;
    buf[i++] = h.wscale;
  }
  if (h.sack !== undefined && h.sack.length > 0) {
    buf[i++] = 1;
    buf[i++] = 1;
    buf[i++] = 5;
    buf[i++] = 2 + 4 * h.sack.length;
    for (const edge of h.sack) {
      buf.writeUInt32BE(edge >>> 0, i);
      i += 4;
    }
  }
  while (i < at + hl) buf[i++] = 0;
  const len = hl + (payload === null ? 0 : payload.length);
  if (payload !== null && payload.length > 0) buf.set(payload, at + hl);
  const sum = sumWords(buf, at, at + len, pseudoHeaderSum(src, dst, PROTO_TCP, len));
  const c = finishChecksum(sum);
  buf[at + 16] = c >> 8;
  buf[at + 17] = c & 0xff;
  return len;
}
