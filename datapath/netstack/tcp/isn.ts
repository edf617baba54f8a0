// Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, key),
// M a 4 µs clock, F a keyed hash (HMAC-SHA-256 here). An off-path attacker cannot predict them, and
// a new incarnation of the same 4-tuple starts above the old one as the clock advances.
import { createHmac } from 'node:crypto';

export function initialSequenceNumber(
  key: Uint8Array,
  nowMs: number,
  localAddress: Uint8Array,
  localPort: number,
  remoteAddress: Uint8Array,
  remotePort: number,
): number {
  const ports = Buffer.from([localPort >> 8, localPort & 0xff, remotePort >> 8, remotePort & 0xff]);
  const f = createHmac('sha256', key)
    .update(localAddress)
    .update(remoteAddress)
    .update(ports)
    .digest()
    .readUInt32BE(0);
  const m = Math.floor(nowMs * 250); // 4 µs ticks
  return (f + m) >>> 0;
}
