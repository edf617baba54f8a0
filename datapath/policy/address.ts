// IP addresses as the policy sees them: parsed without any I/O, in every spelling a resolver would
// accept, and normalised so that one address has one form before it is judged.
//
// Why our own parser: getaddrinfo() (and so the kernel's view of where a connection goes) accepts
// inet_aton() spellings — `127.1`, `0x7f.0.0.1`, `0177.0.0.1`, `2130706433` — and a policy that only
// knows dotted quads would judge those as host names. Here every such spelling is turned into the
// address it means, and the policy never sees anything else.

export interface IPv4 {
  readonly family: 4;
  /** the address as an unsigned 32-bit integer */
  readonly v4: number;
}

export interface IPv6 {
  readonly family: 6;
  /** the address as four unsigned 32-bit words, most significant first */
  readonly w: readonly [number, number, number, number];
}

export type IPAddress = IPv4 | IPv6;

export function ipv4(v: number): IPv4 {
  return { family: 4, v4: v >>> 0 };
}

export function ipv6(a: number, b: number, c: number, d: number): IPv6 {
  return { family: 6, w: [a >>> 0, b >>> 0, c >>> 0, d >>> 0] };
}

const DEC = /^[0-9]+$/;
const OCT = /^0[0-7]*$/;
const HEX = /^0[xX][0-9a-fA-F]*$/;

function parseIPv4Part(part: string): number | null {
  if (part.length === 0) return null;
  // inet_aton: 0x prefix = hex (an empty "0x" means 0 in glibc), leading 0 = octal, else decimal.
  if (HEX.test(part)) return part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
  if (part.length > 1 && part.startsWith('0')) return OCT.test(part) ? Number.parseInt(part, 8) : null;
  if (DEC.test(part)) return Number.parseInt(part, 10);
  return null;
}

/**
 * The common spelling, a.b.c.d with decimal parts 0–255 and no leading zeros, scanned without
 * regular expressions or allocation (the proxy parses one or two per connection). -1 when the text
 * is not in that form; the general parser below then decides.
 */
function parseCanonicalQuad(text: string): number {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // a leading zero: octal in inet_aton
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return v * 256 + part;
}

/**
 * Parses an IPv4 address the way inet_aton() does: one to four parts, each decimal, octal (leading 0)
 * or hex (0x); the last part fills the remaining bytes. `127.1` is 127.0.0.1, `2130706433` too.
 * Returns null when the text is not such an address.
 */
export function parseIPv4Loose(text: string): IPv4 | null {
  if (text.length === 0 || text.length > 64) return null;
  const quad = parseCanonicalQuad(text);
  if (quad >= 0) return ipv4(quad);
  const parts = text.split('.');
  if (parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    const n = parseIPv4Part(p);
    if (n === null || !Number.isFinite(n)) return null;
    nums.push(n);
  }
  const last = nums[nums.length - 1];
  const lead = nums.slice(0, -1);
  for (const n of lead) if (n > 255) return null;
  const lastBits = 8 * (4 - lead.length);
  if (last >= 2 ** lastBits) return null;
  let v = 0;
  for (let i = 0; i < lead.length; i++) v += lead[i] * 2 ** (24 - 8 * i);
  return ipv4(v + last);
}

/** Strict dotted quad (what RFC 4291 allows at the end of an IPv6 address). */
function parseDottedQuad(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!DEC.test(p) || p.length > 3) return null;
    const n = Number.parseInt(p, 10);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v;
}

/** Parses an IPv6 address (RFC 4291 text forms, optional trailing dotted quad). Zone ids are refused. */
export function parseIPv6(text: string): IPv6 | null {
  if (text.length < 2 || text.length > 45 || text.includes('%')) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.')) {
        const q = parseDottedQuad(p);
        if (q === null) return null;
        out.push(q >>> 16, q & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
      out.push(Number.parseInt(p, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  if (head === null) return null;
  let all: number[];
  if (halves.length === 2) {
    const tail = groups(halves[1]);
    if (tail === null) return null;
    // a dotted quad may only end the address, never the head of a "::"
    if (halves[0].includes('.')) return null;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    all = head;
  }
  if (all.length !== 8) return null;
  return ipv6(
    all[0] * 65536 + all[1],
    all[2] * 65536 + all[3],
    all[4] * 65536 + all[5],
    all[6] * 65536 + all[7],
  );
}

/**
 * Parses any literal a resolver would treat as an address: IPv6 (with or without brackets) or an
 * inet_aton IPv4 spelling, with one trailing dot tolerated on IPv4 forms. Returns null for names.
 */
export function parseAddressLiteral(text: string): IPAddress | null {
  let t = text;
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  if (t.includes(':')) return parseIPv6(t);
  if (t.endsWith('.')) t = t.slice(0, -1);
  return parseIPv4Loose(t);
}

export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text: lower case, longest run of two or more zero groups compressed. */
export function formatIPv6(w: readonly [number, number, number, number]): string {
  const g: number[] = [];
  for (const x of w) g.push(x >>> 16, x & 0xffff);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function formatAddress(a: IPAddress): string {
  return a.family === 4 ? formatIPv4(a.v4) : formatIPv6(a.w);
}

/** `1.2.3.4:80` or `[::1]:80`. */
export function formatEndpoint(a: IPAddress, port: number): string {
  return a.family === 4 ? `${formatIPv4(a.v4)}:${port}` : `[${formatIPv6(a.w)}]:${port}`;
}

/**
 * What an address means for the policy once IPv4-embedding IPv6 forms are taken apart.
 * - `address`: the address the IP rules judge (IPv4-mapped, IPv4-compatible and IPv4-translated
 *   IPv6 become the IPv4 address they carry, since the kernel treats them as that address);
 * - `embedded`: for NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo (2001::/32), the IPv4
 *   address the packet ends up at; the policy requires both the IPv6 address and this one to pass;
 * - `refused`: forms whose destination cannot be known (the local-use NAT64 prefix 64:ff9b:1::/48).
 */
export interface Normalised {
  readonly address: IPAddress;
  readonly embedded: IPv4 | null;
  readonly refused: string | null;
}

export function normalise(a: IPAddress): Normalised {
  if (a.family === 4) return { address: a, embedded: null, refused: null };
  const [w0, w1, w2, w3] = a.w;
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated, RFC 2765)
  if (w0 === 0 && w1 === 0 && (w2 === 0xffff || w2 === 0xffff0000)) {
    return { address: ipv4(w3), embedded: null, refused: null };
  }
  // ::a.b.c.d (deprecated IPv4-compatible); :: and ::1 are not IPv4 addresses
  if (w0 === 0 && w1 === 0 && w2 === 0 && w3 > 1) return { address: ipv4(w3), embedded: null, refused: null };
  // 64:ff9b::/96 well-known NAT64 prefix
  if (w0 === 0x0064ff9b && w1 === 0 && w2 === 0) return { address: a, embedded: ipv4(w3), refused: null };
  // 64:ff9b:1::/48 local-use NAT64: the embedding depends on the network's prefix length
  if (w0 === 0x0064ff9b && w1 >>> 16 === 1) return { address: a, embedded: null, refused: 'nat64-local-use' };
  // 2002:AABB:CCDD::/48 6to4
  if (w0 >>> 16 === 0x2002)
    return { address: a, embedded: ipv4(((w0 & 0xffff) << 16) | (w1 >>> 16)), refused: null };
  // 2001:0000::/32 Teredo: the client's address is the last 32 bits, inverted
  if (w0 === 0x20010000) return { address: a, embedded: ipv4(~w3), refused: null };
  return { address: a, embedded: null, refused: null };
}

/** Addresses no connection may go to: unspecified ("this host", which Linux routes to itself), broadcast, multicast. */
export function neverReachable(a: IPAddress): string | null {
  if (a.family === 4) {
    if (a.v4 >>> 24 === 0) return 'unspecified';
    if (a.v4 === 0xffffffff) return 'broadcast';
    if (a.v4 >>> 28 === 0xe) return 'multicast';
    return null;
  }
  const [w0, w1, w2, w3] = a.w;
  if ((w0 | w1 | w2 | w3) === 0) return 'unspecified';
  if (w0 >>> 24 === 0xff) return 'multicast';
  return null;
}

export function isLoopback(a: IPAddress): boolean {
  if (a.family === 4) return a.v4 >>> 24 === 127;
  return a.w[0] === 0 && a.w[1] === 0 && a.w[2] === 0 && a.w[3] === 1;
}

export function sameAddress(a: IPAddress, b: IPAddress): boolean {
  if (a.family === 4) return b.family === 4 && a.v4 === b.v4;
  return b.family === 6 && a.w[0] === b.w[0] && a.w[1] === b.w[1] && a.w[2] === b.w[2] && a.w[3] === b.w[3];
}

/** Mask of the top `bits` bits of a 32-bit word (0..32). */
export function mask32(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** The address with everything past `prefix` bits cleared. */
export function maskAddress(a: IPAddress, prefix: number): IPAddress {
  if (a.family === 4) return ipv4((a.v4 & mask32(prefix)) >>> 0);
  const w = a.w;
  return ipv6(
    (w[0] & mask32(prefix)) >>> 0,
    (w[1] & mask32(prefix - 32)) >>> 0,
    (w[2] & mask32(prefix - 64)) >>> 0,
    (w[3] & mask32(prefix - 96)) >>> 0,
  );
}

export function inPrefix(a: IPAddress, network: IPAddress, prefix: number): boolean {
  if (a.family !== network.family) return false;
  return sameAddress(maskAddress(a, prefix), network);
}
