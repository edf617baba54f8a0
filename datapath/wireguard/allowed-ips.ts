// Cryptokey routing table (whitepaper §2): prefixes → peer, longest prefix wins. A binary trie per
// address family, walked bit by bit (at most 32 or 128 steps per lookup). Pure.
import { formatAddress, parseAddress } from '../netstack/ip/address.ts';

export class CidrError extends Error {
  override name = 'CidrError';
}

export interface Cidr {
  address: Buffer;
  prefix: number;
}

/**
 * Parses `10.0.0.0/8`, `fd00::/64` or a bare address (a host route). The host bits are cleared
 * unless `keepHostBits` (an interface address such as 10.8.0.5/24 names the host and its network).
 */
export function parseCidr(text: string, keepHostBits = false): Cidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash < 0 ? t : t.slice(0, slash);
  let address: Buffer;
  try {
    address = parseAddress(addrText);
  } catch {
    throw new CidrError(`not an IP address or CIDR: ${JSON.stringify(text)}`);
  }
  const max = address.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max)
      throw new CidrError(`bad prefix length in ${JSON.stringify(text)}`);
    prefix = Number(p);
  }
  if (keepHostBits) return { address, prefix };
  for (let bit = prefix; bit < max; bit++) address[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { address, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.address)}/${c.prefix}`;
}

const CACHE_SLOTS = 64;

class Node<T> {
  value: T | undefined = undefined;
  zero: Node<T> | undefined = undefined;
  one: Node<T> | undefined = undefined;
}

export class AllowedIps<T> {
  #v4 = new Node<T>();
  #v6 = new Node<T>();
  // A small direct-mapped cache of IPv4 lookups (a tunnel sees few distinct addresses, each for many
  // packets); cleared whenever the table changes. -1 marks an empty slot.
  #cacheKeys = new Float64Array(CACHE_SLOTS).fill(-1);
  #cacheValues: (T | undefined)[] = new Array(CACHE_SLOTS);

  insert(cidr: Cidr, value: T): void {
    this.#cacheKeys.fill(-1);
    let n = cidr.address.length === 4 ? this.#v4 : this.#v6;
    for (let bit = 0; bit < cidr.prefix; bit++) {
      const one = (cidr.address[bit >> 3] & (0x80 >> (bit & 7))) !== 0;
      if (one) n = n.one ??= new Node<T>();
      else n = n.zero ??= new Node<T>();
    }
    n.value = value;
  }

  /** The value of the longest prefix containing `address` (4 or 16 bytes, read from `offset`). */
  lookup(address: Uint8Array, offset = 0, length = address.length - offset): T | undefined {
    if (length === 4) {
      const key =
        address[offset] * 0x100_0000 +
        ((address[offset + 1] << 16) | (address[offset + 2] << 8) | address[offset + 3]);
      const slot = (address[offset + 3] ^ address[offset + 2]) & (CACHE_SLOTS - 1);
      if (this.#cacheKeys[slot] === key) return this.#cacheValues[slot];
      const value = this.#walk(address, offset, 4);
      this.#cacheKeys[slot] = key;
      this.#cacheValues[slot] = value;
      return value;
    }
    return this.#walk(address, offset, length);
  }

  #walk(address: Uint8Array, offset: number, length: number): T | undefined {
    let n: Node<T> | undefined = length === 4 ? this.#v4 : this.#v6;
    let best = n.value;
    const bits = length * 8;
    for (let bit = 0; bit < bits && n !== undefined; bit++) {
      const one = (address[offset + (bit >> 3)] & (0x80 >> (bit & 7))) !== 0;
      n = one ? n.one : n.zero;
      if (n?.value !== undefined) best = n.value;
    }
    return best;
  }

  /** Removes every prefix that maps to `value`. */
  removeValue(value: T): void {
    this.#cacheKeys.fill(-1);
    const walk = (n: Node<T> | undefined): void => {
      if (!n) return;
      if (n.value === value) n.value = undefined;
      walk(n.zero);
      walk(n.one);
    };
    walk(this.#v4);
    walk(this.#v6);
  }

  /** Every prefix mapped to `value`, for status output. */
  entriesOf(value: T): Cidr[] {
    const out: Cidr[] = [];
    const walk = (n: Node<T> | undefined, bits: number[], len: number): void => {
      if (!n) return;
      if (n.value === value) {
        const address = Buffer.alloc(len / 8);
        bits.forEach((b, i) => {
          if (b) address[i >> 3] |= 0x80 >> (i & 7);
        });
        out.push({ address, prefix: bits.length });
      }
      walk(n.zero, [...bits, 0], len);
      walk(n.one, [...bits, 1], len);
    };
    walk(this.#v4, [], 32);
    walk(this.#v6, [], 128);
    return out;
  }
}
