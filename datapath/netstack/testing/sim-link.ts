// A simulated network for tests: two stacks joined by a link with seeded loss, duplication,
// reordering, delay and a bandwidth limit, on a virtual clock. Deterministic: the same seed gives the
// same packets in the same order. Nothing sleeps; `run` jumps the clock from event to event.
import { seededRandom } from '../../../e2e/testing/seeded-random.ts';
import { Netstack, type NetstackOptions } from '../stack.ts';

export interface LinkParams {
  /** Probability that a packet is lost. */
  loss: number;
  duplicate: number;
  /** Probability that a packet is held back by `reorderDelayMs` extra. */
  reorder: number;
  reorderDelayMs: number;
  delayMs: number;
  /** Bytes per millisecond; Infinity for none. */
  bandwidth: number;
  /** Drop-tail when the link's queue would exceed this many ms of transmission. */
  queueMs: number;
}

export const PERFECT_LINK: LinkParams = {
  loss: 0,
  duplicate: 0,
  reorder: 0,
  reorderDelayMs: 0,
  delayMs: 1,
  bandwidth: Number.POSITIVE_INFINITY,
  queueMs: Number.POSITIVE_INFINITY,
};

interface Pending {
  at: number;
  order: number;
  to: Netstack;
  packet: Buffer;
}

export class SimNetwork {
  time = 0;
  readonly a: Netstack;
  readonly b: Netstack;
  readonly random: () => number;
  /** Per direction: link parameters can be changed while running. */
  aToB: LinkParams;
  bToA: LinkParams;
  /** Optional filter: sees every packet sent; return false to drop it. */
  filter: ((from: 'a' | 'b', packet: Buffer) => boolean) | null = null;
  readonly stats = { sent: 0, lost: 0, duplicated: 0, reordered: 0, queueDrops: 0 };
  private queue: Pending[] = [];
  private order = 0;
  private busyUntil = { a: 0, b: 0 };

  constructor(
    seed: number,
    link: Partial<LinkParams>,
    addrA: Uint8Array,
    addrB: Uint8Array,
    extra: Partial<NetstackOptions> = {},
  ) {
    this.random = seededRandom(seed);
    this.aToB = { ...PERFECT_LINK, ...link };
    this.bToA = { ...PERFECT_LINK, ...link };
    const randomBytes = (n: number) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(this.random() * 256);
      return b;
    };
    const common = { now: () => this.time, randomBytes, ...extra };
    this.a = new Netstack({ ...common, addresses: [addrA], output: (p) => this.transmit('a', p) });
    this.b = new Netstack({ ...common, addresses: [addrB], output: (p) => this.transmit('b', p) });
  }

  private transmit(from: 'a' | 'b', packet: Buffer): void {
    const p = from === 'a' ? this.aToB : this.bToA;
    const to = from === 'a' ? this.b : this.a;
    this.stats.sent++;
    // The filter sees every packet sent (tests capture with it), before the link loses any.
    if (this.filter !== null && !this.filter(from, packet)) {
      this.stats.lost++;
      return;
    }
    if (this.random() < p.loss) {
      this.stats.lost++;
      return;
    }
    // Copy: the receiver keeps views into packets, and the sender may not reuse them either.
    const copy = Buffer.from(packet);
    let start = Math.max(this.time, this.busyUntil[from]);
    if (Number.isFinite(p.bandwidth)) {
      if (start - this.time > p.queueMs) {
        this.stats.queueDrops++;
        return;
      }
      start += packet.length / p.bandwidth;
      this.busyUntil[from] = start;
    }
    let at = start + p.delayMs;
    if (this.random() < p.reorder) {
      at += p.reorderDelayMs;
      this.stats.reordered++;
    }
    this.push({ at, order: this.order++, to, packet: copy });
    if (this.random() < p.duplicate) {
      this.stats.duplicated++;
      this.push({ at: at + 0.1, order: this.order++, to, packet: Buffer.from(copy) });
    }
  }

  private push(e: Pending): void {
    // Insertion keeps the queue sorted by (at, order); queues here are short enough.
    const q = this.queue;
    let i = q.length;
    while (i > 0 && (q[i - 1].at > e.at || (q[i - 1].at === e.at && q[i - 1].order > e.order))) i--;
    q.splice(i, 0, e);
  }

  /** Runs until `done()` or the virtual clock passes `limitMs`. Returns true when done() held. */
  run(done: () => boolean, limitMs = 600_000): boolean {
    const end = this.time + limitMs;
    this.a.flush();
    this.b.flush();
    while (!done()) {
      const next = this.nextEventTime();
      if (next === -1 || next > end) {
        this.time = end;
        return done();
      }
      this.time = Math.max(this.time, next);
      // Deliver everything due now as one batch per receiver, then let both stacks emit.
      while (this.queue.length > 0 && this.queue[0].at <= this.time) {
        const e = this.queue.shift()!;
        e.to.input(e.packet);
      }
      this.a.tick();
      this.b.tick();
    }
    return true;
  }

  /** Advances the virtual clock by ms, processing what happens meanwhile. */
  advance(ms: number): void {
    this.run(() => false, ms);
  }

  private nextEventTime(): number {
    let t = this.queue.length > 0 ? this.queue[0].at : -1;
    for (const s of [this.a, this.b]) {
      const d = s.nextDeadline();
      if (d !== -1 && (t === -1 || d < t)) t = d;
    }
    return t;
  }
}
