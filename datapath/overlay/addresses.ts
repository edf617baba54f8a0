// Conversions between the policy's IPAddress (numbers) and the netstack's byte form. Pure.
import { type IPAddress, ipv4, ipv6 } from '../policy/address.ts';

export function addressToBytes(a: IPAddress): Buffer {
  if (a.family === 4) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(a.v4 >>> 0, 0);
    return b;
  }
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeUInt32BE(a.w[i] >>> 0, i * 4);
  return b;
}

export function bytesToAddress(b: Uint8Array): IPAddress {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (b.length === 4) return ipv4(buf.readUInt32BE(0));
  return ipv6(buf.readUInt32BE(0), buf.readUInt32BE(4), buf.readUInt32BE(8), buf.readUInt32BE(12));
}
