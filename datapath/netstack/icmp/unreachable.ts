// ICMP destination unreachable, port unreachable (RFC 792 type 3 code 3; RFC 4443 type 1 code 4):
// the answer to a UDP datagram for a port nobody listens on. Pure.
import { checksum, finishChecksum, pseudoHeaderSum, sumWords } from '../ip/checksum.ts';
import { buildIpPacket, IPV4_HEADER_LENGTH, type IpPacket, PROTO_ICMP, PROTO_ICMPV6 } from '../ip/packet.ts';

/**
 * `original` is the whole offending IP packet and `parsed` its parse. The reply quotes as much of it as
 * fits in a minimum-MTU datagram (576 bytes IPv4, 1280 IPv6), as the RFCs ask.
 */
export function portUnreachableFor(original: Buffer, parsed: IpPacket): Buffer {
  const v4 = parsed.version === 4;
  const maxQuote = v4 ? 576 - IPV4_HEADER_LENGTH - 8 : 1280 - 40 - 8;
  const quote = original.subarray(0, Math.min(original.length, maxQuote));
  const m = Buffer.alloc(8 + quote.length);
  m[0] = v4 ? 3 : 1;
  m[1] = v4 ? 3 : 4;
  quote.copy(m, 8);
  const src = parsed.dst;
  const dst = parsed.src;
  const sum = v4
    ? checksum(m)
    : finishChecksum(sumWords(m, 0, m.length, pseudoHeaderSum(src, dst, PROTO_ICMPV6, m.length)));
  m.writeUInt16BE(sum, 2);
  return buildIpPacket({ src, dst, protocol: v4 ? PROTO_ICMP : PROTO_ICMPV6 }, m);
}
