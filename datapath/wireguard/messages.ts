// The four WireGuard message layouts (whitepaper §5.4). All integers little-endian. Pure.
//   1 initiation   type(4) sender(4) ephemeral(32) static(32+16) timestamp(12+16) mac1(16) mac2(16) = 148
//   2 response     type(4) sender(4) receiver(4) ephemeral(32) empty(0+16) mac1(16) mac2(16)       =  92
//   3 cookie reply type(4) receiver(4) nonce(24) cookie(16+16)                                      =  64
//   4 transport    type(4) receiver(4) counter(8) packet(n+16)                                      >= 32
export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;

export const INITIATION_LENGTH = 148;
export const RESPONSE_LENGTH = 92;
export const COOKIE_REPLY_LENGTH = 64;
export const TRANSPORT_HEADER_LENGTH = 16;
export const TRANSPORT_MIN_LENGTH = TRANSPORT_HEADER_LENGTH + 16;

export const INIT_SENDER = 4;
export const INIT_EPHEMERAL = 8;
export const INIT_STATIC = 40;
export const INIT_TIMESTAMP = 88;
export const INIT_MAC1 = 116;
export const INIT_MAC2 = 132;

export const RESP_SENDER = 4;
export const RESP_RECEIVER = 8;
export const RESP_EPHEMERAL = 12;
export const RESP_EMPTY = 44;
export const RESP_MAC1 = 60;
export const RESP_MAC2 = 76;

export const COOKIE_RECEIVER = 4;
export const COOKIE_NONCE = 8;
export const COOKIE_BODY = 32;

export const TRANSPORT_RECEIVER = 4;
export const TRANSPORT_COUNTER = 8;

/** Where mac1 starts in a handshake message (mac2 follows 16 bytes later). */
export function mac1Offset(length: number): number {
  return length - 32;
}

/**
 * The message type of a datagram: the first byte, with the three reserved bytes required to be zero,
 * or 0 when the datagram cannot be any WireGuard message.
 */
export function messageType(d: Uint8Array): number {
  if (d.length < 4 || d[1] !== 0 || d[2] !== 0 || d[3] !== 0) return 0;
  const t = d[0];
  if (t === MESSAGE_INITIATION) return d.length === INITIATION_LENGTH ? t : 0;
  if (t === MESSAGE_RESPONSE) return d.length === RESPONSE_LENGTH ? t : 0;
  if (t === MESSAGE_COOKIE_REPLY) return d.length === COOKIE_REPLY_LENGTH ? t : 0;
  if (t === MESSAGE_TRANSPORT) return d.length >= TRANSPORT_MIN_LENGTH ? t : 0;
  return 0;
}

export function readU32(d: Uint8Array, off: number): number {
  return (d[off] | (d[off + 1] << 8) | (d[off + 2] << 16) | (d[off + 3] << 24)) >>> 0;
}

export function writeU32(d: Uint8Array, off: number, v: number): void {
  d[off] = v & 0xff;
  d[off + 1] = (v >>> 8) & 0xff;
  d[off + 2] = (v >>> 16) & 0xff;
  d[off + 3] = (v >>> 24) & 0xff;
}

/** Largest counter we represent exactly (2^53); a datagram claiming more is refused, never rounded. */
export const MAX_SAFE_COUNTER = 2 ** 53;

/** The transport counter as a number, or -1 when it is at or beyond 2^53. */
export function readCounter(d: Uint8Array, off: number): number {
  const hi = readU32(d, off + 4);
  if (hi >= 0x20_0000) return -1;
  return hi * 0x1_0000_0000 + readU32(d, off);
}

export function writeCounter(d: Uint8Array, off: number, c: number): void {
  writeU32(d, off, c % 0x1_0000_0000);
  writeU32(d, off + 4, Math.floor(c / 0x1_0000_0000));
}
