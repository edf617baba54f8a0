// The time the core sees. Injected, so tests move time by hand and nothing in the core sleeps.
export interface Clock {
  /** Monotonic milliseconds; drives every timer. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch; only for the handshake timestamp (TAI64N) and stats. */
  wallTime(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallTime: () => Date.now(),
};

/** A clock that moves only when told to (tests). */
export class ManualClock implements Clock {
  #now: number;
  #wall: number;
  constructor(start = 1_000_000, wallStart = Date.UTC(2026, 0, 1)) {
    this.#now = start;
    this.#wall = wallStart;
  }
  now(): number {
    return this.#now;
  }
  wallTime(): number {
    return this.#wall;
  }
  advance(ms: number): void {
    this.#now += ms;
    this.#wall += ms;
  }
}

/** The system clock shifted forward by a settable offset (interop tests jump our timers ahead). */
export class OffsetClock implements Clock {
  offset = 0;
  now(): number {
    return performance.now() + this.offset;
  }
  wallTime(): number {
    return Date.now();
  }
}
