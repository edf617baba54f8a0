// The address lookup the device's UDP sockets use (inline and on the I/O thread).
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';

let lastHost = '';
let lastFamily = 0;

/**
 * dgram's address lookup for IP literals, answered synchronously. Node's default goes through
 * dns.lookup, which defers every datagram by a process tick (and a closure) even for a literal.
 */
export function literalLookup(
  host: string,
  family: unknown,
  cb: (err: Error | null, address: string, family: number) => void,
): void {
  // Datagrams mostly go to one endpoint; isIP of an IPv6 (or ::ffff:-mapped) literal is a long
  // regular expression, which showed in the overlay profile at one call per datagram.
  if (host === lastHost) {
    cb(null, host, lastFamily);
    return;
  }
  const f = isIP(host);
  if (f !== 0) {
    lastHost = host;
    lastFamily = f;
    cb(null, host, f);
  } else dnsLookup(host, family as number, cb as never);
}
