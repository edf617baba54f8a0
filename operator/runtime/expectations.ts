// "Expectations", as in the ReplicaSet controller: what this process just wrote, by object key,
// until its informer cache shows it. A pass that runs before the informer has caught up (one
// queued by our own finalizer write, or by a child's event) reads the expectation instead of
// acting on the stale cache: without it, it would create, issue or write the same thing again.
// An expectation also ends after `ttlMs`, for the write that was undone (the object deleted, the
// status overwritten) before the informer ever saw it. Pure: no I/O, the clock is injected.

export const EXPECT_MS = 30_000;

export class Expectations<T> {
  readonly #pending = new Map<string, { value: T; at: number }>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(ttlMs = EXPECT_MS, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  set(key: string, value: T): void {
    const now = this.#now();
    // Expired entries of keys that were never asked about again (deleted objects) go here.
    for (const [k, e] of this.#pending) if (now - e.at >= this.#ttlMs) this.#pending.delete(k);
    this.#pending.set(key, { value, at: now });
  }

  delete(key: string): void {
    this.#pending.delete(key);
  }

  /**
   * The value still expected for `key` and how long it will be; undefined (and forgotten) when
   * there is none, it expired, or `seen(value)` says the cache shows it now.
   */
  get(key: string, seen: (value: T) => boolean): { value: T; msLeft: number } | undefined {
    const e = this.#pending.get(key);
    if (!e) return undefined;
    const msLeft = e.at + this.#ttlMs - this.#now();
    if (msLeft <= 0 || seen(e.value)) {
      this.#pending.delete(key);
      return undefined;
    }
    return { value: e.value, msLeft };
  }
}
