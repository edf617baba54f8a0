// Per-key exponential backoff, as client-go's ItemExponentialFailureRateLimiter: the n-th
// consecutive failure of a key waits base·2^(n-1), capped. Pure (no timers, no clock).

export type BackoffOptions = { baseMs: number; maxMs: number };

export class KeyedBackoff {
  readonly #failures = new Map<string, number>();
  readonly #opts: BackoffOptions;
  constructor(opts: BackoffOptions = { baseMs: 200, maxMs: 5 * 60_000 }) {
    this.#opts = opts;
  }
  /** Records a failure and returns how long to wait before the next attempt. */
  next(key: string): number {
    const n = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, n);
    return delayFor(n, this.#opts);
  }
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
  forget(key: string): void {
    this.#failures.delete(key);
  }
}

export function delayFor(failures: number, { baseMs, maxMs }: BackoffOptions): number {
  if (failures <= 0) return 0;
  // 2^exp overflows to Infinity long after maxMs; clamp the exponent to keep it a finite number.
  const exp = Math.min(failures - 1, 52);
  return Math.min(maxMs, baseMs * 2 ** exp);
}
