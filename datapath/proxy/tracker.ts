// Open connections of the datapath (proxied and forwarded), so a new policy can re-check them, the
// drain on SIGTERM can wait for them, and /status can count them. No I/O.

import type { IPAddress } from '../policy/address.ts';
import type { CloseReason } from './relay.ts';

export interface TrackedConnection {
  readonly id: string;
  readonly dir: 'egress' | 'ingress';
  /** egress only: what the policy judged (requested name, resolved addresses, port) */
  readonly host: string | null;
  readonly addresses: readonly IPAddress[];
  readonly port: number;
  close(reason: CloseReason): void;
}

export class ConnectionTracker {
  private readonly open = new Map<string, TrackedConnection>();
  private readonly emptyWaiters: (() => void)[] = [];
  private counter = 0;
  private readonly prefix = Math.floor(Math.random() * 0xffffff)
    .toString(16)
    .padStart(6, '0');

  /** A connection id unique in this process and unlikely to repeat across restarts. */
  nextId(): string {
    this.counter++;
    return `${this.prefix}-${this.counter.toString(36)}`;
  }

  add(c: TrackedConnection): void {
    this.open.set(c.id, c);
  }

  remove(id: string): void {
    this.open.delete(id);
    if (this.open.size === 0) for (const w of this.emptyWaiters.splice(0)) w();
  }

  get size(): number {
    return this.open.size;
  }

  all(): TrackedConnection[] {
    return [...this.open.values()];
  }

  /** Resolves when no connection is open (at once if none is). */
  whenEmpty(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }
}
