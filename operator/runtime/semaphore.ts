// Bounded concurrency for outbound work (datapath status polls): at most `limit` run at once,
// the rest wait in FIFO order.
export class Semaphore {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(limit: number) {
    if (!(limit >= 1)) throw new Error('semaphore limit must be at least 1');
    this.#limit = limit;
  }
  get active(): number {
    return this.#active;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#limit) await new Promise<void>((r) => this.#waiting.push(r));
    else this.#active++;
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}
