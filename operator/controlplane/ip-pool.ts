// Overlay IPv4 pool arithmetic. Pure. A claim is one Kubernetes object per address whose name is
// derived from the address, so "create" is the atomic test-and-set that keeps two replicas from
// handing out the same address.
import { badRequest } from './errors.ts';

export interface Pool {
  cidr: string;
  base: number; // network address as an unsigned 32-bit integer
  prefix: number;
  size: number; // addresses in the block
}

export function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parsePool(cidr: string): Pool {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  const base = m ? ipToInt(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : Number.NaN;
  if (base === undefined || !(prefix >= 8 && prefix <= 30)) {
    throw badRequest('invalid_pool', `overlay pool must be an IPv4 CIDR between /8 and /30, got "${cidr}"`);
  }
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) {
    throw badRequest(
      'invalid_pool',
      `overlay pool ${cidr} has host bits set (did you mean ${intToIp(base - (base % size))}/${prefix}?)`,
    );
  }
  return { cidr, base, prefix, size };
}

/** Usable host addresses: the network and broadcast addresses are never handed out. */
export function usableCount(pool: Pool): number {
  return pool.size - 2;
}

/** The i-th usable address (0-based). */
export function hostAt(pool: Pool, i: number): string {
  return intToIp(pool.base + 1 + (((i % usableCount(pool)) + usableCount(pool)) % usableCount(pool)));
}

export function contains(pool: Pool, ip: string): boolean {
  const n = ipToInt(ip);
  return n !== undefined && n > pool.base && n < pool.base + pool.size - 1;
}

/** Object name for the claim of `ip`: `lattice-ip-10-42-0-5` (a valid DNS-1123 name). */
export function claimName(ip: string): string {
  return `lattice-ip-${ip.replaceAll('.', '-')}`;
}

export function ipFromClaimName(name: string): string | undefined {
  const m = /^lattice-ip-(\d+)-(\d+)-(\d+)-(\d+)$/.exec(name);
  if (!m) return undefined;
  const ip = `${m[1]}.${m[2]}.${m[3]}.${m[4]}`;
  return ipToInt(ip) === undefined ? undefined : ip;
}

/** FNV-1a of a string: a stable, well-spread starting point for a sandbox's probe sequence. */
export function startIndex(pool: Pool, key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % usableCount(pool);
}

/**
 * Candidate addresses for `key`, in probe order, skipping those known to be taken. Starting from a
 * hash of the sandbox UID spreads concurrent allocators (two replicas rarely try the same address
 * first); `taken` is only a hint — the create-or-conflict write is what decides.
 */
export function* candidates(pool: Pool, key: string, taken: ReadonlySet<string>): Generator<string> {
  const n = usableCount(pool);
  const start = startIndex(pool, key);
  for (let i = 0; i < n; i++) {
    const ip = hostAt(pool, start + i);
    if (!taken.has(ip)) yield ip;
  }
}
