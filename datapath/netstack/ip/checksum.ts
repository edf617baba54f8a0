// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.
// Pure; no I/O. Summing 32-bit words into a JS number is exact (far below 2^53 for any packet) and
// roughly halves the loop count, which matters because every TCP segment is summed twice (out and in).

/** Adds the bytes of buf[start, end) as big-endian 16-bit words to `initial` (not folded, not inverted). */
export function sumWords(buf: Uint8Array, start: number, end: number, initial = 0): number {
  // Long runs that start 4-byte aligned in memory are summed 32 bits per load through a Uint32Array.
  // Its words are little-endian here, but the ones' complement sum commutes with byte swapping
  // (RFC 1071 §2(B)): sum the swapped halves, fold, swap back.
  if (end - start >= 128 && ((buf.byteOffset + start) & 3) === 0 && LITTLE_ENDIAN) {
    const words = (end - start) >>> 2;
    const u32 = new Uint32Array(buf.buffer, buf.byteOffset + start, words);
    let le = 0;
    for (let k = 0; k < words; k++) {
      const w = u32[k];
      le += (w & 0xffff) + (w >>> 16);
    }
    while (le > 0xffff) le = (le & 0xffff) + Math.floor(le / 0x10000);
    const be = ((le & 0xff) << 8) | (le >>> 8);
    return sumWordsBytewise(buf, start + words * 4, end, initial + be);
  }
  return sumWordsBytewise(buf, start, end, initial);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function sumWordsBytewise(buf: Uint8Array, start: number, end: number, initial: number): number {
  let sum = initial;
  let i = start;
  const end4 = end - ((end - start) & 3);
  for (; i < end4; i += 4) {
    sum += ((buf[i] << 8) | buf[i + 1]) + ((buf[i + 2] << 8) | buf[i + 3]);
  }
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8; // odd length: pad with a zero byte
  return sum;
}

/** Folds a running sum to 16 bits and inverts it: the value to put in a checksum field. */
export function finishChecksum(sum: number): number {
  // Fold high bits in until the sum fits in 16 bits; a number up to 2^53 needs at most 3 rounds.
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The checksum of buf[start, end). A buffer whose checksum field is filled in correctly sums to 0. */
export function checksum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  return finishChecksum(sumWords(buf, start, end, initial));
}

/**
 * The sum of the TCP/UDP/ICMPv6 pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1): source and destination
 * address, protocol (next header) and upper-layer length. Works for 4- and 16-byte addresses alike.
 */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  let sum = sumWords(src, 0, src.length);
  sum = sumWords(dst, 0, dst.length, sum);
  return sum + protocol + (length & 0xffff) + Math.floor(length / 0x10000);
}
