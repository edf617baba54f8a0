// Enrollment tokens: `lt-` + 32 lowercase hex characters (128 bits from the CSPRNG), issued by the
// reconciler through newTokenSecret (token-secret.ts). The control plane checks a
// presented token by hashing it (`sha256:<hex>`) and comparing in constant time with the hash of
// the issued one; its logs only ever carry a short hash prefix.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
// One pattern and one duration parser for the whole operator (bindings used only inside functions,
// so the import cycle through token-secret.ts is harmless).
import { parseDuration as parseGoDuration, TOKEN_PATTERN } from '../sandbox/token.ts';

export { TOKEN_PATTERN };

export function generateToken(): string {
  return `lt-${randomBytes(16).toString('hex')}`;
}

const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;

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

/** spec.enrollment.tokenTTL in ms; undefined when absent or unparsable (the caller uses the default). */
export function parseDuration(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const ms = parseGoDuration(text);
    return ms > 0 ? ms : undefined;
  } catch {
    return undefined;
  }
}

export const DEFAULT_TOKEN_TTL_MS = 3_600_000;
