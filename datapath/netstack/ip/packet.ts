// IPv4 (RFC 791) and IPv6 (RFC 8200) packets: parse with validation, build with checksums.
// Pure; no I/O. Parsing never copies: addresses and payload are subarrays of the input buffer, so a
// caller that keeps them past the input's lifetime must copy.
//
// No fragmentation, by decision: fragments are dropped with reason 'fragment' (IPv4 MF or offset set,
// IPv6 Fragment header) and TCP clamps its MSS to the tunnel MTU so nothing we send needs fragmenting.
import { checksum } from './checksum.ts';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

export const IPV4_HEADER_LENGTH = 20;
export const IPV6_HEADER_LENGTH = 40;
export const DEFAULT_TTL = 64;

/** Why an incoming packet was dropped; the stack counts drops by these names. */
export type IpDropReason =
  | 'truncated'
  | 'bad-version'
  | 'bad-header-length'
  | 'bad-total-length'
  | 'bad-header-checksum'
  | 'fragment'
  | 'bad-extension-header';

export interface IpPacket {
  version: 4 | 6;
  /** 4 or 16 bytes, a view into the packet. */
  src: Buffer;
  dst: Buffer;
  /** IPv4 protocol or IPv6 upper-layer next header (after skipping extension headers). */
  protocol: number;
  /** TTL or hop limit. */
  ttl: number;
  /** The upper-layer payload, trimmed to the length the header declares (link padding removed). */
  payload: Buffer;
}

export type IpParseResult = { ok: true; packet: IpPacket } | { ok: false; reason: IpDropReason };

const drop = (reason: IpDropReason): IpParseResult => ({ ok: false, reason });

/**
 * Parses an IPv4 or IPv6 packet, telling them apart by the version nibble. `verifyChecksum` false
 * skips the IPv4 header checksum, for a link that has already authenticated the packet.
 */
export function parseIpPacket(buf: Buffer, verifyChecksum = true): IpParseResult {
  if (buf.length < 1) return drop('truncated');
  const version = buf[0] >> 4;
  if (version === 4) return parseIpv4(buf, verifyChecksum);
  if (version === 6) return parseIpv6(buf);
  return drop('bad-version');
}

export function parseIpv4(buf: Buffer, verifyChecksum = true): IpParseResult {
  if (buf.length < IPV4_HEADER_LENGTH) return drop('truncated');
  if (buf[0] >> 4 !== 4) return drop('bad-version');
  const ihl = (buf[0] & 0x0f) * 4;
  if (ihl < IPV4_HEADER_LENGTH) return drop('bad-header-length');
  if (buf.length < ihl) return drop('truncated');
  const totalLength = (buf[2] << 8) | buf[3];
  if (totalLength < ihl) return drop('bad-total-length');
  if (buf.length < totalLength) return drop('truncated');
  if (verifyChecksum && checksum(buf, 0, ihl) !== 0) return drop('bad-header-checksum');
  const flagsFragment = (buf[6] << 8) | buf[7];
  // MF set or a non-zero offset: a fragment. DF and the reserved bit are ignored.
  if ((flagsFragment & 0x3fff) !== 0) return drop('fragment');
  return {
    ok: true,
    packet: {
      version: 4,
      src: buf.subarray(12, 16),
      dst: buf.subarray(16, 20),
      protocol: buf[9],
      ttl: buf[8],
      payload: buf.subarray(ihl, totalLength),
    },
  };
}

// Extension headers we walk past (RFC 8200 §4.1); all share the (next header, length in 8-octet units) form.
const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const DESTINATION_OPTIONS = 60;
const NO_NEXT_HEADER = 59;

export function parseIpv6(buf: Buffer): IpParseResult {
  if (buf.length < IPV6_HEADER_LENGTH) return drop('truncated');
  if (buf[0] >> 4 !== 6) return drop('bad-version');
  const payloadLength = (buf[4] << 8) | buf[5];
  const end = IPV6_HEADER_LENGTH + payloadLength;
  if (buf.length < end) return drop('truncated');
  let next = buf[6];
  let offset = IPV6_HEADER_LENGTH;
  for (;;) {
    if (next === FRAGMENT) return drop('fragment');
    if (next !== HOP_BY_HOP && next !== ROUTING && next !== DESTINATION_OPTIONS) break;
    if (offset + 8 > end) return drop('bad-extension-header');
    const len = (buf[offset + 1] + 1) * 8;
    if (offset + len > end) return drop('bad-extension-header');
    next = buf[offset];
    offset += len;
  }
  if (next === NO_NEXT_HEADER) return drop('bad-extension-header');
  return {
    ok: true,
    packet: {
      version: 6,
      src: buf.subarray(8, 24),
      dst: buf.subarray(24, 40),
      protocol: next,
      ttl: buf[7],
      payload: buf.subarray(offset, end),
    },
  };
}

/** Header length for packets we build from addresses of this length (no options, no extension headers). */
export function ipHeaderLength(address: Uint8Array): number {
  return address.length === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
}

export interface IpHeaderFields {
  src: Uint8Array;
  dst: Uint8Array;
  protocol: number;
  payloadLength: number;
  ttl?: number;
  /** IPv4 identification; irrelevant with DF set, but kept varying for middleboxes that look. */
  identification?: number;
}

/**
 * Writes an IPv4 or IPv6 header at buf[0..] (the version follows the address length) and returns its
 * length. The payload is expected to follow at that offset; the caller writes it (zero copy when the
 * payload is built in place). IPv4 packets carry DF: we never fragment.
 */
export function writeIpHeader(buf: Uint8Array, f: IpHeaderFields): number {
  const ttl = f.ttl ?? DEFAULT_TTL;
  if (f.src.length === 4 && f.dst.length === 4) {
    const total = IPV4_HEADER_LENGTH + f.payloadLength;
    if (total > 0xffff) throw new RangeError(`IPv4 packet of ${total} bytes`);
    const id = f.identification ?? 0;
    buf[0] = 0x45;
    buf[1] = 0;
    buf[2] = total >> 8;
    buf[3] = total & 0xff;
    buf[4] = (id >> 8) & 0xff;
    buf[5] = id & 0xff;
    buf[6] = 0x40; // DF
    buf[7] = 0;
    buf[8] = ttl;
    buf[9] = f.protocol;
    buf[10] = 0;
    buf[11] = 0;
    buf.set(f.src, 12);
    buf.set(f.dst, 16);
    const sum = checksum(buf, 0, IPV4_HEADER_LENGTH);
    buf[10] = sum >> 8;
    buf[11] = sum & 0xff;
    return IPV4_HEADER_LENGTH;
  }
  if (f.src.length === 16 && f.dst.length === 16) {
    if (f.payloadLength > 0xffff) throw new RangeError(`IPv6 payload of ${f.payloadLength} bytes`);
    buf[0] = 0x60;
    buf[1] = 0;
    buf[2] = 0;
    buf[3] = 0;
    buf[4] = f.payloadLength >> 8;
    buf[5] = f.payloadLength & 0xff;
    buf[6] = f.protocol;
    buf[7] = ttl;
    buf.set(f.src, 8);
    buf.set(f.dst, 24);
    return IPV6_HEADER_LENGTH;
  }
  throw new RangeError(`address lengths ${f.src.length}/${f.dst.length}: need both 4 or both 16`);
}

/** Builds a whole packet around a payload (one allocation, one copy). */
export function buildIpPacket(f: Omit<IpHeaderFields, 'payloadLength'>, payload: Uint8Array): Buffer {
  const hl = ipHeaderLength(f.src);
  const out = Buffer.allocUnsafe(hl + payload.length);
  writeIpHeader(out, { ...f, payloadLength: payload.length });
  out.set(payload, hl);
  return out;
}

/** True when the IPv4 header checksum of a packet verifies (for tests and diagnostics). */
export function ipv4HeaderChecksumOk(buf: Uint8Array): boolean {
  return checksum(buf, 0, (buf[0] & 0x0f) * 4) === 0;
}
