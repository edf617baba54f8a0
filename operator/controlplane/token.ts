// Enrollment tokens: `lt-` + 32 lowercase hex characters (128 bits from the CSPRNG).
// The control plane keeps only `sha256:<hex>` of a token; a presented token is checked by hashing it
// and comparing in constant time, so neither the comparison nor the logs ever see a stored secret.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_PATTERN = /^lt-[0-9a-f]{32}$/;
const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;

export function generateToken(random: (n: number) => Uint8Array = randomBytes): string {
  return `lt-${Buffer.from(random(16)).toString('hex')}`;
}

export function isWellFormedToken(token: unknown): token is string {
  return typeof token === 'string' && TOKEN_PATTERN.test(token);
}

export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** True when `token` hashes to `storedHash`. A malformed stored hash never matches. */
export function tokenMatches(token: string, storedHash: string): boolean {
  if (!HASH_PATTERN.test(storedHash)) return false;
  const a = Buffer.from(hashToken(token), 'utf8');
  const b = Buffer.from(storedHash, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A token as it may appear in a log line: never the value, only a short hash prefix to correlate. */
export function redactToken(token: unknown): string {
  if (typeof token !== 'string' || token.length === 0) return '<none>';
  return `<token ${hashToken(token).slice(7, 15)}>`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a Kubernetes-style duration such as `1h`, `30m`, `1h30m`, `90s`. Returns milliseconds, or
 * undefined for anything else (the caller decides the default).
 */
export function parseDuration(text: unknown): number | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 32) return undefined;
  const re = /(\d+)(ms|s|m|h|d)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    pos = re.lastIndex;
  }
  return total > 0 ? total : undefined;
}

export const DEFAULT_TOKEN_TTL_MS = 3_600_000;
