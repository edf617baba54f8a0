// What a client asked for, classified before anything is resolved: an address (in any spelling a
// resolver accepts, so `127.1` is judged as 127.0.0.1) or a canonical DNS name. Pure.

import { type IPAddress, parseAddressLiteral } from './address.ts';
import { canonicalHostName } from './rule.ts';

export type Destination =
  | { readonly kind: 'address'; readonly address: IPAddress }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'invalid'; readonly why: string };

export function classifyDestination(host: string): Destination {
  if (host.length === 0) return { kind: 'invalid', why: 'empty host' };
  if (host.length > 255) return { kind: 'invalid', why: 'host longer than 255 bytes' };
  const literal = parseAddressLiteral(host);
  if (literal !== null) return { kind: 'address', address: literal };
  // Anything made only of address characters that did not parse is a broken address, not a name.
  if (/^[0-9a-fA-FxX.:[\]]+$/.test(host) && /^[0-9[:]/.test(host))
    return { kind: 'invalid', why: 'malformed address' };
  const name = canonicalHostName(host);
  if (name === null) return { kind: 'invalid', why: 'not a valid host name' };
  return { kind: 'name', name };
}
