// ICMP echo (RFC 792 type 8 → 0; RFC 4443 type 128 → 129): build requests, answer requests.
// Pure; no I/O. The reply reuses the request's identifier, sequence and data, as ping expects.
import { checksum, finishChecksum, pseudoHeaderSum, sumWords } from '../ip/checksum.ts';
import { buildIpPacket, type IpPacket, PROTO_ICMP, PROTO_ICMPV6 } from '../ip/packet.ts';

export const ICMPV4_ECHO_REPLY = 0;
export const ICMPV4_ECHO_REQUEST = 8;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;

export interface EchoMessage {
  type: number;
  identifier: number;
  sequence: number;
  data: Buffer;
}

/** The ICMP checksum: plain for ICMPv4, with the IPv6 pseudo-header for ICMPv6. */
function icmpChecksum(message: Uint8Array, src: Uint8Array, dst: Uint8Array): number {
  if (src.length === 4) return checksum(message);
  return finishChecksum(
    sumWords(message, 0, message.length, pseudoHeaderSum(src, dst, PROTO_ICMPV6, message.length)),
  );
}

/** Parses an ICMP echo request or reply carried in `packet`, verifying its checksum; null otherwise. */
export function parseEcho(packet: IpPacket): EchoMessage | null {
  const icmpProto = packet.version === 4 ? PROTO_ICMP : PROTO_ICMPV6;
  const m = packet.payload;
  if (packet.protocol !== icmpProto || m.length < 8) return null;
  const echoTypes =
    packet.version === 4
      ? [ICMPV4_ECHO_REQUEST, ICMPV4_ECHO_REPLY]
      : [ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY];
  if (!echoTypes.includes(m[0]) || m[1] !== 0) return null;
  if (icmpChecksum(m, packet.src, packet.dst) !== 0) return null;
  return { type: m[0], identifier: m.readUInt16BE(4), sequence: m.readUInt16BE(6), data: m.subarray(8) };
}

function buildEcho(
  src: Uint8Array,
  dst: Uint8Array,
  type: number,
  identifier: number,
  sequence: number,
  data: Uint8Array,
  ttl?: number,
): Buffer {
  const m = Buffer.alloc(8 + data.length);
  m[0] = type;
  m.writeUInt16BE(identifier & 0xffff, 4);
  m.writeUInt16BE(sequence & 0xffff, 6);
  m.set(data, 8);
  m.writeUInt16BE(icmpChecksum(m, src, dst), 2);
  const protocol = src.length === 4 ? PROTO_ICMP : PROTO_ICMPV6;
  return buildIpPacket({ src, dst, protocol, ttl }, m);
}

/** A whole IP packet carrying an echo request from src to dst (IPv4 or IPv6 by address length). */
export function buildEchoRequest(
  src: Uint8Array,
  dst: Uint8Array,
  identifier: number,
  sequence: number,
  data: Uint8Array = Buffer.alloc(0),
): Buffer {
  const type = src.length === 4 ? ICMPV4_ECHO_REQUEST : ICMPV6_ECHO_REQUEST;
  return buildEcho(src, dst, type, identifier, sequence, data);
}

/**
 * The reply to an echo request addressed to us, as a whole IP packet back to its sender; null when
 * `packet` is not a valid echo request (wrong type, bad checksum, truncated).
 */
export function echoReplyFor(packet: IpPacket): Buffer | null {
  const echo = parseEcho(packet);
  const requestType = packet.version === 4 ? ICMPV4_ECHO_REQUEST : ICMPV6_ECHO_REQUEST;
  if (echo === null || echo.type !== requestType) return null;
  const replyType = packet.version === 4 ? ICMPV4_ECHO_REPLY : ICMPV6_ECHO_REPLY;
  return buildEcho(packet.dst, packet.src, replyType, echo.identifier, echo.sequence, echo.data);
}
