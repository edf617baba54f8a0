// Handshake and idle timeouts of every client connection (proxied, forwarded, intercepted), checked
// by one coarse periodic tick rather than a Node timer per socket.
//
// Why: node:net re-arms a socket's timer on every read and every write (a clock read and a timer
// list re-insert each), and a connection's timer is armed twice (handshake, then idle) and cleared
// once. On the sequential-connect benchmark that was ~15 µs of a ~0.3 ms connect
// (docs/performance.md); on the byte path it was a cost per chunk. Here a connection costs one Set
// insert, and idleness is read from the relay's byte counters, which it keeps anyway.
//
// Precision: a timeout fires between its duration and its duration plus one tick; the tick is an
// eighth of the shortest configured timeout, within [MIN_TICK_MS, MAX_TICK_MS] (1 s for the
// defaults of 10 s and 1 h). A connection unwatches as it moves on or closes: left to the next tick,
// a second's worth of closed connections stayed reachable from the set, and the extra GC work
// measured as more than the timers had cost.

export const MIN_TICK_MS = 25;
export const MAX_TICK_MS = 1000;

/** Something to look at on every tick; returns true once it needs no more looking at. */
export type Watch = (now: number) => boolean;

/** The tick for the given timeouts (ms). Pure. */
export function tickFor(...timeoutsMs: number[]): number {
  return Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(Math.min(...timeoutsMs) / 8)));
}

/**
 * A watch that fires `onIdle` once `bytes()` has not changed for `idleMs`, and is done when
 * `finished()` (the relay has closed). `bytes` is read once per tick.
 */
export function idleWatch(
  idleMs: number,
  now: number,
  bytes: () => number,
  finished: () => boolean,
  onIdle: () => void,
): Watch {
  let seen = bytes();
  let activeAt = now;
  return (t) => {
    if (finished()) return true;
    const b = bytes();
    if (b !== seen) {
      seen = b;
      activeAt = t;
      return false;
    }
    if (t - activeAt < idleMs) return false;
    onIdle();
    return true;
  };
}

export class Timeouts {
  private readonly watches = new Set<Watch>();
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;
  readonly now: () => number;

  constructor(tickMs: number, now: () => number = Date.now) {
    this.tickMs = tickMs;
    this.now = now;
  }

  /** Looks at `w` on every tick until it returns true. */
  watch(w: Watch): void {
    this.watches.add(w);
    // unref: open connections keep the process alive, not their timeouts
    this.timer ??= setInterval(() => this.tick(this.now()), this.tickMs).unref();
  }

  unwatch(w: Watch): void {
    this.watches.delete(w);
  }

  /** One tick (the interval's; tests call it with their own clock). */
  tick(now: number): void {
    for (const w of this.watches) if (w(now)) this.watches.delete(w);
    if (this.watches.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  get size(): number {
    return this.watches.size;
  }
}
