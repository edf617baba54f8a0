// Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, key),
// M a 4 µs clock, F a keyed hash: SHA-256 over the secret key and the 4-tuple (RFC 6528 §3 suggests
// MD5 over the same; any PRF keyed with a secret serves). An off-path attacker cannot predict them,
// and a new incarnation of the same 4-tuple starts above the old one as the clock advances.
// One-shot `hash` over one buffer: an HMAC object per connection (key import, two hashes) cost
// ~0.07 ms of each overlay CONNECT.
import { hash } from 'node:crypto';

export function initialSequenceNumber(
  key: Uint8Array,
  nowMs: number,
  localAddress: Uint8Array,
  localPort: number,
  remoteAddress: Uint8Array,
  remotePort: number,
): number {
  const input = Buffer.allocUnsafe(key.length + localAddress.length + remoteAddress.length + 4);
  input.set(key, 0);
  let o = key.length;
  input.set(localAddress, o);
  o += localAddress.length;
  input.set(remoteAddress, o);
  o += remoteAddress.length;
  input.writeUInt16BE(localPort, o);
  input.writeUInt16BE(remotePort, o + 2);
  const f = hash('sha256', input, 'buffer').readUInt32BE(0);
  const m = Math.floor(nowMs * 250); // 4 µs ticks
  return (f + m) >>> 0;
}

/**
 * The timestamp clock offset for a pair of addresses (RFC 7323 §5.4, as Linux's secure_tcp_ts_off):
 * unpredictable from outside, but the same for every connection between the two hosts, so a new
 * connection's timestamps continue the old one's clock. That is what lets the peer accept a new SYN
 * on a 4-tuple it holds in TIME_WAIT (RFC 6191), and PAWS drop an old incarnation's duplicates.
 */
export function timestampOffset(
  key: Uint8Array,
  localAddress: Uint8Array,
  remoteAddress: Uint8Array,
): number {
  return keyedHash32(key, 1, localAddress, remoteAddress, 0);
}

/**
 * Where the ephemeral port search starts for a destination, and which counter it uses (RFC 6056
 * §3.3.4, algorithm 4): keyed hashes of the addresses and the remote port, so an outsider cannot
 * guess the ports we use, while connections to one destination walk the range in sequence and come
 * back to a port (perhaps in TIME_WAIT) as late as possible.
 */
export function ephemeralPortOffset(
  key: Uint8Array,
  localAddress: Uint8Array,
  remoteAddress: Uint8Array,
  remotePort: number,
): { offset: number; bucket: number } {
  const d = keyedHash(key, 2, localAddress, remoteAddress, remotePort);
  return { offset: d.readUInt32BE(0), bucket: d[4] };
}

function keyedHash32(key: Uint8Array, label: number, a: Uint8Array, b: Uint8Array, port: number): number {
  return keyedHash(key, label, a, b, port).readUInt32BE(0);
}

function keyedHash(key: Uint8Array, label: number, a: Uint8Array, b: Uint8Array, port: number): Buffer {
  const input = Buffer.allocUnsafe(key.length + 1 + a.length + b.length + 2);
  input.set(key, 0);
  let o = key.length;
  input[o++] = label;
  input.set(a, o);
  o += a.length;
  input.set(b, o);
  o += b.length;
  input.writeUInt16BE(port, o);
  return hash('sha256', input, 'buffer');
}
