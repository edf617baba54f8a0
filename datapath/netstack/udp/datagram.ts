// UDP datagrams (RFC 768; RFC 8200 §8.1 for the mandatory IPv6 checksum). Pure.
import { finishChecksum, pseudoHeaderSum, sumWords } from '../ip/checksum.ts';
import { buildIpPacket, PROTO_UDP } from '../ip/packet.ts';

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export type UdpDropReason = 'udp-truncated' | 'udp-bad-length' | 'udp-bad-checksum';
export type UdpParseResult = { ok: true; datagram: UdpDatagram } | { ok: false; reason: UdpDropReason };

/** `verifyChecksum` false skips the checksum, for a link that has already authenticated the packet. */
export function parseUdp(
  buf: Buffer,
  src: Uint8Array,
  dst: Uint8Array,
  verifyChecksum = true,
): UdpParseResult {
  if (buf.length < 8) return { ok: false, reason: 'udp-truncated' };
  const length = (buf[4] << 8) | buf[5];
  if (length < 8 || length > buf.length) return { ok: false, reason: 'udp-bad-length' };
  const field = (buf[6] << 8) | buf[7];
  // IPv4 allows "no checksum" (0); IPv6 requires one.
  if (verifyChecksum && (field !== 0 || src.length === 16)) {
    const sum = finishChecksum(sumWords(buf, 0, length, pseudoHeaderSum(src, dst, PROTO_UDP, length)));
    if (sum !== 0) return { ok: false, reason: 'udp-bad-checksum' };
  }
  return {
    ok: true,
    datagram: {
      srcPort: (buf[0] << 8) | buf[1],
      dstPort: (buf[2] << 8) | buf[3],
      payload: buf.subarray(8, length),
    },
  };
}

export function buildUdpPacket(
  src: Uint8Array,
  srcPort: number,
  dst: Uint8Array,
  dstPort: number,
  payload: Uint8Array,
): Buffer {
  const length = 8 + payload.length;
  const u = Buffer.allocUnsafe(length);
  u.writeUInt16BE(srcPort, 0);
  u.writeUInt16BE(dstPort, 2);
  u.writeUInt16BE(length, 4);
  u.writeUInt16BE(0, 6);
  u.set(payload, 8);
  let sum = finishChecksum(sumWords(u, 0, length, pseudoHeaderSum(src, dst, PROTO_UDP, length)));
  if (sum === 0) sum = 0xffff; // 0 means "none" on the wire
  u.writeUInt16BE(sum, 6);
  return buildIpPacket({ src, dst, protocol: PROTO_UDP }, u);
}
