// The address lookup the device's UDP sockets use (inline and on the I/O thread).
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';

/**
 * dgram's address lookup for IP literals, answered synchronously. Node's default goes through
 * dns.lookup, which defers every datagram by a process tick (and a closure) even for a literal.
 */
export function literalLookup(
  host: string,
  family: unknown,
  cb: (err: Error | null, address: string, family: number) => void,
): void {
  const f = isIP(host);
  if (f !== 0) cb(null, host, f);
  else dnsLookup(host, family as number, cb as never);
}
