// IP addresses as bytes (how packets carry them) and as text (how people, policy and config write them).
// Pure; no I/O. The datapath keeps addresses as 4- or 16-byte Uint8Arrays in the fast path and only
// formats them for keys, logs and audit records.
import { isIPv4, isIPv6 } from 'node:net';

export class AddressError extends Error {
  override name = 'AddressError';
}

/** Parses a textual IPv4 or IPv6 address into 4 or 16 bytes. Throws AddressError on anything else. */
export function parseAddress(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split('.').map((p) => Number(p)));
  if (isIPv6(text)) return parseIpv6(text);
  throw new AddressError(`not an IP address: ${JSON.stringify(text)}`);
}

function parseIpv6(text: string): Buffer {
  const out = Buffer.alloc(16);
  let body = text;
  const zone = body.indexOf('%');
  if (zone >= 0) body = body.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4) becomes the last two words.
  let tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (body.indexOf('.', lastColon) >= 0) {
    const v4 = body
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    tail = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    body = body.slice(0, lastColon + 1);
    if (!body.endsWith('::')) body = body.slice(0, -1);
  }
  const halves = body.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => Number.parseInt(h, 16)));
  const head = parse(halves[0]);
  const rest = halves.length > 1 ? parse(halves[1]) : [];
  const words = [
    ...head,
    ...new Array(8 - head.length - rest.length - tail.length).fill(0),
    ...rest,
    ...tail,
  ];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(words[i], i * 2);
  return out;
}

/** Formats 4 bytes as dotted quad, 16 bytes as RFC 5952 text (lowercase, longest zero run compressed). */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new AddressError(`address of ${bytes.length} bytes`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero word is not compressed
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Byte-wise equality of two addresses (different lengths are never equal). */
export function addressEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
