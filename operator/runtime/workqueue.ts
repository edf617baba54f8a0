// A keyed, de-duplicating work queue with the semantics of client-go's workqueue:
// - a key queued twice is processed once (dirty set);
// - a key is never processed by two workers at once: added while processing, it is queued
//   again when the worker calls done() (processing set);
// - addAfter keeps only the earliest pending delay per key;
// - addRateLimited waits the key's exponential backoff; forget() resets it after a success.
// Timers are injected so tests drive time by hand. No I/O.
import { KeyedBackoff } from './backoff.ts';

export type Scheduler = (fn: () => void, ms: number) => () => void;

export const realScheduler: Scheduler = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

export type QueueMetrics = {
  depth(n: number): void;
  added(): void;
  retried(): void;
  queued(ms: number): void;
};

export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #delayed = new Map<string, { due: number; cancel: () => void }>();
  readonly #addedAt = new Map<string, number>();
  readonly #backoff: KeyedBackoff;
  readonly #schedule: Scheduler;
  readonly #now: () => number;
  readonly #metrics: QueueMetrics | undefined;
  #shutdown = false;

  constructor(
    opts: { backoff?: KeyedBackoff; schedule?: Scheduler; now?: () => number; metrics?: QueueMetrics } = {},
  ) {
    this.#backoff = opts.backoff ?? new KeyedBackoff();
    this.#schedule = opts.schedule ?? realScheduler;
    this.#now = opts.now ?? Date.now;
    this.#metrics = opts.metrics;
  }

  get length(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#shutdown || this.#dirty.has(key)) return;
    this.#metrics?.added();
    this.#dirty.add(key);
    this.#addedAt.set(key, this.#now());
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  addAfter(key: string, ms: number): void {
    if (this.#shutdown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const due = this.#now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.due <= due) return;
    pending?.cancel();
    const cancel = this.#schedule(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { due, cancel });
  }

  /** Re-queues after the key's backoff; returns the delay chosen. */
  addRateLimited(key: string): number {
    const ms = this.#backoff.next(key);
    this.#metrics?.retried();
    this.addAfter(key, ms);
    return ms;
  }

  forget(key: string): void {
    this.#backoff.forget(key);
  }

  failures(key: string): number {
    return this.#backoff.failures(key);
  }

  /** The next key to process, or undefined after shutdown. Call done(key) when finished. */
  get(): Promise<string | undefined> {
    if (this.#queue.length > 0) return Promise.resolve(this.#take());
    if (this.#shutdown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) this.#push(key);
  }

  shutdown(): void {
    this.#shutdown = true;
    for (const d of this.#delayed.values()) d.cancel();
    this.#delayed.clear();
    for (const w of this.#waiters.splice(0)) w(undefined);
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#queue.push(key);
      waiter(this.#take());
      return;
    }
    this.#queue.push(key);
    this.#metrics?.depth(this.#queue.length);
  }

  #take(): string {
    const key = this.#queue.shift()!;
    this.#dirty.delete(key);
    this.#processing.add(key);
    const at = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (at !== undefined) this.#metrics?.queued(this.#now() - at);
    this.#metrics?.depth(this.#queue.length);
    return key;
  }
}
